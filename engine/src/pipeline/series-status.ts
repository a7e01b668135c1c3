import type { SeriesStatus } from '../broadcast/hub.ts';
import { parseDemandMember } from '../cluster/demand-member.ts';
import type { SeriesId } from '../domain/series-id.ts';
import { streamKey } from './upstream-router.ts';

/**
 * The series some upstream streams leave without live updates: each stream's own, and the custom
 * intervals built from it (`customOf`: a symbol's custom series and their sources). A stream whose
 * connection is down (`down`) reads `reconnecting`, one the exchange went silent on (`silent`)
 * `stale`; their clients are told so (Hub.setStatus) while the rest read the upstream's state.
 */
export function seriesStatus(
  down: readonly string[],
  silent: readonly string[],
  customOf: (symbol: string) => ReadonlyArray<{ id: SeriesId; source: SeriesId }>,
): SeriesStatus[] {
  const out = new Map<string, SeriesStatus>();
  const add = (streams: readonly string[], state: SeriesStatus['state']) => {
    for (const stream of streams) {
      const key = streamKey(stream);
      const id = key === undefined ? undefined : parseDemandMember(key);
      if (!id || out.has(id.key)) continue;
      out.set(id.key, { id, state });
      for (const c of customOf(id.symbol)) if (c.source.key === id.key && !out.has(c.id.key)) out.set(c.id.key, { id: c.id, state });
    }
  };
  // Down first: a stream both silent and down is coming back, not silent.
  add(down, 'reconnecting');
  add(silent, 'stale');
  return [...out.values()];
}
