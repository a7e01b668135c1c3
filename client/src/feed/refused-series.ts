import { splitSeriesLabel } from '../api.ts';

/** The engine's code for a socket refused whole for one of its derived series (engine `BAD_SERIES`). */
export const BAD_SERIES = 'bad_series';

/**
 * The derived series an engine `error` blames for refusing the whole socket (`code` `bad_series`, its
 * `series` the entry's name), when that name is one the socket asked for; undefined for any other
 * refusal, and for one naming no series (too many asked): only a name asked is ever dropped.
 */
export function refusedSeriesName(refusal: { code?: string; series?: string }, labels: readonly string[]): string | undefined {
  if (refusal.code !== BAD_SERIES || refusal.series === undefined) return undefined;
  const name = refusal.series;
  return labels.some((l) => splitSeriesLabel(l).name === name) ? name : undefined;
}
