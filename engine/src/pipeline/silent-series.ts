import { parseDemandMember } from '../cluster/demand-member.ts';
import type { SeriesId } from '../domain/series-id.ts';
import { streamKey } from './upstream-router.ts';

/**
 * The series a set of silent upstream streams leaves without live updates: each stream's own, and the
 * custom intervals built from it (`customOf`: a symbol's custom series and their sources). Their
 * clients are told `stale` (Hub.setStaleSeries) while the rest read the upstream's state.
 */
export function silentSeries(streams: readonly string[], customOf: (symbol: string) => ReadonlyArray<{ id: SeriesId; source: SeriesId }>): SeriesId[] {
  const out: SeriesId[] = [];
  for (const stream of streams) {
    const key = streamKey(stream);
    const id = key === undefined ? undefined : parseDemandMember(key);
    if (!id) continue;
    out.push(id);
    for (const c of customOf(id.symbol)) if (c.source.key === id.key) out.push(c.id);
  }
  return out;
}
