import { Observable } from 'rxjs';
import { StreamShards, type StreamShardsOptions } from './stream-shards.ts';
import type { UpstreamEvent } from './upstream-event.ts';

export { MAX_STREAMS_PER_CONNECTION } from './stream-shards.ts';
export type { UpstreamEvent } from './upstream-event.ts';

export interface BinanceWsOptions extends StreamShardsOptions {
  streams: readonly string[];
}

/**
 * A fixed set of kline streams as one Observable (see `StreamShards`: bare `/stream` connections of at
 * most 1024 streams, subscribed with `SUBSCRIBE` in paced batches, reconnected, replaced when stale and
 * rotated before the 24 h cut). Subscribing opens the connections; unsubscribing closes every socket.
 */
export function binanceKlines$(opts: BinanceWsOptions): Observable<UpstreamEvent> {
  return new Observable<UpstreamEvent>((subscriber) => {
    const shards = new StreamShards(opts);
    const sub = shards.events$.subscribe(subscriber);
    shards.add(opts.streams);
    return () => {
      sub.unsubscribe();
      shards.close();
    };
  });
}
