import { seriesId, type SeriesId } from '../domain/series-id.ts';
import type { Logger } from '../log.ts';
import type { StreamStarting } from '../record/late-streams.ts';
import type { SeriesCatalog } from './series-catalog.ts';
import type { SeriesLifecycle } from './series-lifecycle.ts';

/**
 * A replay's answer to a stream the live run started partway (late-streams.ts): it pins the served
 * series built on it (the interval itself if served, else the custom intervals it is the hidden source
 * of, with that source) from this point of the recording, as the live run's client started them, so
 * what the recording holds of them is served whenever a client of the replay asks. Pinned, as
 * configured series are: held with `want`, they counted against MAX_ON_DEMAND_SERIES for good, and at
 * the cap the later streams were not replayed and every client of the replay was refused any other
 * series. Bounded instead by `maxSeries` (MAX_ON_DEMAND_SERIES) pinned this way over the whole replay;
 * past it a stream is not replayed, said once. Only those series are pinned, not every interval of the
 * symbol (`pinSymbol`), which the live run never had.
 * True when the stream will be subscribed (the replay waits for it); false when no served series is
 * built on it, or the bound is reached.
 */
export function replayDemand(catalog: SeriesCatalog, lifecycle: Pick<SeriesLifecycle, 'pinSeries' | 'has'>, maxSeries: number, log: Logger): StreamStarting {
  let pinned = 0;
  let refused = 0;
  return (symbol, interval) => {
    try {
      if (!catalog.isTrading(symbol)) return false;
      const served = catalog.isInterval(interval);
      const ids: SeriesId[] = served ? [seriesId(symbol, interval)] : catalog.customSeriesOf(symbol).filter((c) => c.source.interval === interval).map((c) => c.id);
      if (ids.length === 0) return false;
      // A hidden source is a series the engine keeps too.
      const cost = ids.length + (served ? 0 : 1);
      if (pinned + cost > maxSeries) {
        if (refused++ === 0) log.warn(`replay: ${pinned} series the live run opened on demand are replayed, at most MAX_ON_DEMAND_SERIES (${maxSeries}); the streams it opened after them are not replayed`, { first: `${symbol}@${interval}` });
        return false;
      }
      pinned += cost;
      for (const id of ids) lifecycle.pinSeries(id);
      log.debug('replay: a series the live run opened on demand starts here', { symbol, interval, series: ids.map((id) => id.interval).join(','), pinned });
      return lifecycle.has(seriesId(symbol, interval));
    } catch (e) {
      // Asked in the player's timer: a failure here costs this stream alone.
      log.warn(`replay: ${symbol}@${interval}, opened on demand while recording, is not replayed`, { err: e as Error });
      return false;
    }
  };
}
