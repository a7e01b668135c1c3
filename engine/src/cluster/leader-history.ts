import type { Redis } from 'ioredis';
import type { Bar } from '../domain/bar.ts';
import { HistoryRefusedError } from '../domain/errors.ts';
import type { SeriesId } from '../domain/series-id.ts';
import { ChannelSubscriptions } from './channel-subscriptions.ts';
import type { LeaseKeys } from './cluster-keys.ts';
import { encodeReply, type HistoryAsk, type HistoryReply, parseAsk } from './history-ask.ts';
import type { LeaderLease } from './leader-lease.ts';

export interface LeaderHistoryConfig {
  redis: Redis;
  /** A connection of its own for the ask channel (may be shared with other demand). */
  subscriber: Redis;
  keys: Pick<LeaseKeys, 'historyAsk' | 'historyReply'>;
  lease: LeaderLease;
  /** The node's older bars (App.olderBars): the exchange, at client priority, bounded per address. */
  olderBars(id: SeriesId, endTime: number, limit: number, address: string): Promise<Bar[]>;
  /** Asks answered at once; more are refused as busy (the exchange's pages are bounded further down). */
  maxInFlight?: number;
  onMalformed?(n: number): void;
}

/**
 * The leader's side of edges' history: bars older than the cluster keeps in Redis, which an edge
 * (no exchange connection of its own) needs for a chart scrolled back past BUFFER_SIZE bars and for
 * GET /series ranges and warm-ups that reach below it. Every ingest node listens; only the leader
 * answers, from the same path ROLE=all serves its clients from (so the REST weight budget, the page
 * cache and the per-address limit are one for the whole cluster). Asks are validated (parseAsk) and
 * bounded: at most `maxInFlight` at once, each one page.
 */
export class LeaderHistory {
  private readonly subscriptions: ChannelSubscriptions;
  /** The asks being worked on, by edge and id: at most `maxInFlight`, each removed once answered. */
  private readonly serving = new Set<string>();
  private stopped = false;

  constructor(private readonly cfg: LeaderHistoryConfig) {
    cfg.subscriber.on('message', this.onMessage);
    this.subscriptions = new ChannelSubscriptions(cfg.subscriber);
    void this.subscriptions.add(cfg.keys.historyAsk).catch(() => undefined);
  }

  private readonly onMessage = (channel: string, text: string) => {
    if (channel !== this.cfg.keys.historyAsk || this.stopped || !this.cfg.lease.state.leader) return;
    const ask = parseAsk(text);
    if (!ask) return this.cfg.onMalformed?.(1);
    const key = `${ask.node} ${ask.id}`; // ids are the edges' own; a node's name has no space
    // A copy of an ask being worked on (an edge publishes an unanswered ask again every 2 s): its answer
    // is coming. Counted, each copy would take a slot; answered busy, it would fail the edge's request first.
    if (this.serving.has(key)) return;
    if (this.serving.size >= (this.cfg.maxInFlight ?? 64)) {
      return this.reply(ask, { id: ask.id, error: { reason: 'busy', message: 'too many history requests waiting for the exchange: retry in 1 s', retryAfterSec: 1 } });
    }
    this.serving.add(key);
    // A synchronous throw becomes a failed answer (thrown here it would end the process: ioredis's listener).
    Promise.resolve()
      .then(() => this.cfg.olderBars(ask.series, ask.endTime, ask.limit, ask.address))
      .then(
        (bars) => this.reply(ask, { id: ask.id, bars: bars.slice(-ask.limit) }),
        (e: unknown) =>
          this.reply(ask, {
            id: ask.id,
            error: e instanceof HistoryRefusedError ? { reason: e.info.reason, message: e.message, retryAfterSec: e.info.retryAfterSec } : { reason: 'failed', message: (e as Error).message },
          }),
      )
      .finally(() => this.serving.delete(key));
  };

  private reply(ask: HistoryAsk, r: HistoryReply): void {
    void this.cfg.redis.publish(this.cfg.keys.historyReply + ask.node, encodeReply(r)).catch(() => undefined); // the edge times out
  }

  stop(): void {
    this.stopped = true;
    this.cfg.subscriber.off('message', this.onMessage);
    this.subscriptions.stop();
  }
}
