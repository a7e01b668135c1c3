import type { DecimalFold } from 'klinecharts';

/**
 * KLineChart's decimal folding turned off: by default (threshold 3) it writes 0.00013081 as
 * `0.0{3}13081`, braces and all, on the axis, the legend and the high/low marks, while the header
 * reads 0.00013081 (a review, ATOMBTC). Each text is shown as formatted, in plain decimals.
 */
export const UNFOLDED_DECIMALS: DecimalFold = { threshold: Number.POSITIVE_INFINITY, format: (value) => String(value) };
