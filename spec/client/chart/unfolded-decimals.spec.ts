import { describe, expect, it, vi } from 'vitest';
import { UNFOLDED_DECIMALS } from '../../../client/src/chart/unfolded-decimals.ts';

describe('UNFOLDED_DECIMALS: the chart writes small prices in plain decimals', () => {
  it('undoes KLineChart’s default folding once merged into its options, as init merges them', async () => {
    // KLineChart reads `window` as it loads; its number helpers need nothing of it.
    vi.stubGlobal('window', { navigator: { userAgent: 'node' } });
    const { utils } = await import('klinecharts');
    vi.unstubAllGlobals();
    // KLineChart's own default, built as its store builds it.
    const fold = { threshold: 3, format: (v: string | number) => utils.formatFoldDecimal(v, fold.threshold) };
    expect(fold.format('0.00013081')).toBe('0.0{3}13081');
    utils.merge(fold, UNFOLDED_DECIMALS);
    expect(fold.format('0.00013081')).toBe('0.00013081');
    expect(fold.format('0.00000047000')).toBe('0.00000047000');
    expect(fold.format('60,123.45')).toBe('60,123.45');
  });
});
