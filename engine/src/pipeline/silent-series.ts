import { type SeriesId, seriesId } from '../domain/series-id.ts';
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
    const colon = key?.indexOf(':') ?? -1;
    if (!key || colon < 0) continue;
    const id = seriesId(key.slice(0, colon), key.slice(colon + 1));
    out.push(id);
    for (const c of customOf(id.symbol)) if (c.source.key === id.key) out.push(c.id);
  }
  return out;
}
