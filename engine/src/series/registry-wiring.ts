import type { Observable } from 'rxjs';
import type { Hub } from '../broadcast/hub.ts';
import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { WirePosition } from '../domain/wire.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { BarStore } from '../store/bar-store.ts';
import type { SeriesRegistryDeps } from './series-registry-deps.ts';

export interface RegistryWiringParts {
  bufferSize: number;
  log: Logger;
  metrics: Metrics;
  store: BarStore;
  /** Every bar of the series after it is in the store's window. */
  bars$(id: SeriesId): Observable<Bar>;
  /** The bars of a hole the series repaired late, after they are in the window. */
  repairs$?(id: SeriesId): Observable<Bar>;
  hub: Hub;
  /** None on an ingest node: its port's clients get no positions (the cluster's are in Redis). */
  positions?: { position(id: SeriesId): WirePosition };
}

/**
 * How a node (the single engine or a cluster edge) wires its derived series: history from the
 * store's window, bars as they land, points out through the hub, each with the series' position.
 * Node-specific parts (older bars from REST) are added by the caller.
 */
export function registryWiring(p: RegistryWiringParts): SeriesRegistryDeps {
  const seriesErrors = p.metrics.counter('engine_series_errors_total', 'Derived series that threw and were restarted');
  const seriesSlow = p.metrics.counter('engine_series_slow_total', 'Bars a derived series took 100 ms or more of the event loop over');
  const seriesLive = p.metrics.counter('engine_series_live_seconds_total', "Event-loop time live bars took a derived series' instances (SERIES_LIVE_SHARE bounds them together)");
  const { hub } = p;
  return {
    bufferSize: p.bufferSize,
    log: p.log,
    history: (id) => p.store.window(id).last(p.bufferSize),
    bars$: (id) => p.bars$(id),
    repairs$: p.repairs$,
    publish: (topic, message) => hub.publish(topic, message),
    listening: (topic) => hub.listening(topic),
    listenersVersion: () => hub.followVersion,
    onError: (name) => seriesErrors(1, { series: name }),
    onSlow: (name) => seriesSlow(1, { series: name }),
    onLiveTime: (name, ms) => seriesLive(ms / 1000, { series: name }),
    position: p.positions && ((id) => p.positions!.position(id)),
  };
}

/**
 * `engine_series_instances`: the derived series instances this node computes now. In a cluster the
 * ingest leader computes every instance the edges serve, and an edge none (it follows their points).
 */
export function instancesGauge(metrics: Metrics, count: () => number): void {
  const gauge = metrics.gauge('engine_series_instances', 'Derived series instances computed by this node (a cluster edge computes none: it follows the leader\'s)');
  metrics.onCollect(() => gauge(count()));
}
