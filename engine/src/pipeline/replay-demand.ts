import { seriesId, type SeriesId } from '../domain/series-id.ts';
import type { Logger } from '../log.ts';
import type { StreamStarting } from '../record/late-streams.ts';
import type { SeriesCatalog } from './series-catalog.ts';
import type { SeriesLifecycle } from './series-lifecycle.ts';

/**
 * A replay's answer to a stream the live run started partway (late-streams.ts): it starts the served
 * series built on it (the interval itself, or the custom intervals it is the hidden source of) at the
 * same point of the recording, as the live run's client did, and holds them for good, so what the
 * recording holds of them is served whenever a client of the replay asks. True when the stream will
 * be subscribed (the replay waits for it); false when no served series is built on it, or none could
 * be started (MAX_ON_DEMAND_SERIES: said once per series).
 */
export function replayDemand(catalog: SeriesCatalog, lifecycle: Pick<SeriesLifecycle, 'want' | 'has'>, log: Logger): StreamStarting {
  return (symbol, interval) => {
    if (!catalog.isTrading(symbol)) return false;
    const ids: SeriesId[] = catalog.isInterval(interval) ? [seriesId(symbol, interval)] : catalog.customSeriesOf(symbol).filter((c) => c.source.interval === interval).map((c) => c.id);
    for (const id of ids) {
      void lifecycle.want(id).then((o) => {
        if (!o.ok) log.warn(`replay: ${id.key}, opened on demand while recording, is not replayed: ${o.message}`);
      });
    }
    log.debug('replay: a series the live run opened on demand starts here', { symbol, interval, series: ids.map((id) => id.interval).join(',') });
    return lifecycle.has(seriesId(symbol, interval));
  };
}
