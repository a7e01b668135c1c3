import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Bar } from '../domain/bar.ts';
import { HistoryRefusedError } from '../domain/errors.ts';
import { WARM_UP_ADDRESS } from '../server/client-history.ts';
import type { SeriesId } from '../domain/series-id.ts';
import { ChannelSubscriptions } from './channel-subscriptions.ts';
import type { LeaseKeys } from './cluster-keys.ts';
import { encodeAsk, MAX_ASK_BARS, parseReply } from './history-ask.ts';
import { readKept } from './kept-bars.ts';

export interface EdgeHistoryConfig {
  redis: Redis;
  /** The edge's pub/sub connection: its reply channel is subscribed there. */
  subscriber: Redis;
  keys: Pick<LeaseKeys, 'historyAsk' | 'historyReply'>;
  keyPrefix: string;
  /** This edge's NODE_ID (its reply channel). */
  node: string;
  /** Bars Redis keeps per series: a set this full may have older bars on the exchange. */
  bufferSize: number;
  /** How long an ask waits for the leader (a failover fits in it). Default 20 s. */
  timeoutMs?: number;
  /** An unanswered ask is published again this often: one made while no node led is answered by the next leader. Default 2 s. */
  reaskMs?: number;
  /** Asks waiting at once; more are refused as busy. Default 64. */
  maxPending?: number;
  onMalformed?(n: number): void;
}

interface Pending {
  resolve(bars: Bar[]): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
  reask: NodeJS.Timeout;
}

/**
 * Bars older than an edge's window, as ROLE=all reads them from its store and then the exchange: the
 * sorted set Redis keeps (BUFFER_SIZE per series) first, then, for a range below a full set, the
 * cluster's leader, asked through Redis (history-ask.ts): it fetches the page as ROLE=all does and
 * answers on this edge's channel. Refusals come back as ROLE=all gives them (HistoryRefusedError:
 * 429 or 503 with Retry-After); no answer in time (no leader) is an error. Bounded: `maxPending`
 * asks at once, one page each.
 */
export class EdgeHistory {
  private readonly pending = new Map<string, Pending>();
  private readonly subscriptions: ChannelSubscriptions;
  private readonly channel: string;

  constructor(private readonly cfg: EdgeHistoryConfig) {
    this.channel = cfg.keys.historyReply + cfg.node;
    cfg.subscriber.on('message', this.onMessage);
    this.subscriptions = new ChannelSubscriptions(cfg.subscriber);
  }

  async start(): Promise<void> {
    await this.subscriptions.add(this.channel);
  }

  /** Up to `limit` bars opening at or before `endTime`, oldest first: as many as exist. */
  readonly olderBars = async (id: SeriesId, endTime: number, limit: number, address = WARM_UP_ADDRESS): Promise<Bar[]> => {
    const { bars, members, kept } = await readKept(this.cfg.redis, id, this.cfg.keyPrefix, endTime, limit);
    // A set short of BUFFER_SIZE holds all the exchange has (the leader loads BUFFER_SIZE bars).
    if (members >= limit || kept < this.cfg.bufferSize) return bars;
    const before = bars.length ? bars[0]!.openTime - 1 : endTime;
    const older: Bar[] = [];
    let left = limit - bars.length;
    let end = before;
    while (left > 0) {
      const want = Math.min(MAX_ASK_BARS, left);
      const page = (await this.ask(id, end, want, address)).filter((b) => b.openTime <= end);
      older.unshift(...page);
      if (page.length < want) break; // the series' start
      left -= page.length;
      end = page[0]!.openTime - 1;
    }
    return [...older, ...bars];
  };

  private ask(series: SeriesId, endTime: number, limit: number, address: string): Promise<Bar[]> {
    if (this.pending.size >= (this.cfg.maxPending ?? 64)) {
      return Promise.reject(new HistoryRefusedError('too many history requests waiting for the cluster: retry in 1 s', { info: { reason: 'busy', retryAfterSec: 1 } }));
    }
    const id = randomBytes(12).toString('base64url');
    const text = encodeAsk({ id, node: this.cfg.node, series, endTime, limit, address });
    // The first reply settles it; a later one (the ask went twice) finds nothing pending. A leader
    // ignores a copy of an ask it is still working on: a copy is not refused busy ahead of its bars.
    const publish = () =>
      this.cfg.redis.publish(this.cfg.keys.historyAsk, text).then(
        (listeners) => listeners === 0 && this.settle(id)?.reject(new Error('no ingest node is listening for history asks')),
        (e: Error) => this.settle(id)?.reject(e),
      );
    return new Promise<Bar[]>((resolve, reject) => {
      const timer = setTimeout(() => this.settle(id)?.reject(new Error("the cluster's leader did not answer for older candles in time")), this.cfg.timeoutMs ?? 20_000);
      const reask = setInterval(publish, this.cfg.reaskMs ?? 2000);
      this.pending.set(id, { resolve, reject, timer, reask });
      void publish();
    });
  }

  private settle(id: string): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    clearTimeout(p.timer);
    clearInterval(p.reask);
    return p;
  }

  private readonly onMessage = (channel: string, text: string) => {
    if (channel !== this.channel) return;
    const r = parseReply(text);
    if (!r) return this.cfg.onMalformed?.(1);
    const p = this.settle(r.id);
    if (!p) return; // timed out, or not ours
    if ('bars' in r) p.resolve(r.bars);
    else if (r.error.reason === 'failed') p.reject(new Error(r.error.message));
    else p.reject(new HistoryRefusedError(r.error.message, { info: { reason: r.error.reason, retryAfterSec: r.error.retryAfterSec ?? 1 } }));
  };

  stop(): void {
    this.cfg.subscriber.off('message', this.onMessage);
    this.subscriptions.stop();
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(new Error('server shutting down'));
  }
}
