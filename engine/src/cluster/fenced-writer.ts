import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import { BarWriteQueue } from './bar-write-queue.ts';
import type { SeriesKeys } from './cluster-keys.ts';
import { FreshEpochs } from './fresh-epochs.ts';
import { InstanceLogWrites } from './instance-log-writes.ts';
import { LogExpiries } from './log-expiries.ts';
import type { SeriesPoint } from '../series/define-series.ts';
import type { InstanceStatus } from './point-codec.ts';
import { RunIdTracker } from './run-id-tracker.ts';
import { type StoredExtent, storedExtents } from './stored-extents.ts';
import { failUnansweredWrites } from './unanswered-writes.ts';
import { defineWriteCommands, type WithWrite } from './write-commands.ts';
import type { BarWriteResult, WindowResult, WriteResult } from './write-results.ts';
import type { FencedWriterConfig } from './fenced-writer-config.ts';

export type { BarWriteResult, WindowResult, WriteResult } from './write-results.ts';
export type { StoredExtent } from './stored-extents.ts';
export type { FencedWriterConfig } from './fenced-writer-config.ts';
export { BUSY_GAP_MS } from './busy-gap.ts';
export { MAX_SEED_BARS } from './bar-write-queue.ts';
export { INSTANCE_LOG_TTL_MS } from './instance-log-writes.ts';
export { RELEASED_INSTANCE_TTL_MS } from './log-expiries.ts';

/**
 * The leader's only way to write. Bar updates made in one event-loop turn go to Redis together, in
 * one script call (see WRITE_BATCH_LUA) at the end of the turn: it checks once that the lease still
 * holds `token` (else the whole batch is refused), then for each update in order drops it when older
 * than the stored version of its bar, or upserts it, advances its series' offset, appends it to the
 * bounded history and publishes it, atomically. An exchange pushes every stream in the same tick:
 * one round trip and one script run per burst instead of one per update. While a call is unanswered,
 * updates wait and go together with the next (see BarWriteQueue's `flush`). Calls on one connection
 * reach Redis in the order they were made, so a series' offsets follow its updates.
 */
export class FencedWriter {
  private readonly redis: WithWrite;
  private readonly runIds: RunIdTracker;
  private readonly bars: BarWriteQueue;
  private readonly instances: InstanceLogWrites;
  private readonly expiries: LogExpiries;

  constructor(private readonly cfg: FencedWriterConfig) {
    if (!(cfg.bufferSize >= 1) || !(cfg.historyUpdates >= 1)) throw new TypeError('FencedWriter: bufferSize and historyUpdates must be >= 1');
    this.redis = cfg.redis as WithWrite;
    defineWriteCommands(cfg.redis);
    if (cfg.maxFreedKept !== undefined && !(cfg.maxFreedKept >= 1)) throw new TypeError('FencedWriter: maxFreedKept must be >= 1');
    // One run id and one count of epochs for all of the writer's calls, bars and points alike.
    this.runIds = new RunIdTracker(this.redis, cfg);
    const epochs = new FreshEpochs();
    this.bars = new BarWriteQueue(this.redis, cfg, this.runIds, epochs);
    this.instances = new InstanceLogWrites(this.redis, cfg, this.runIds, epochs);
    this.expiries = new LogExpiries(this.redis, cfg);
    cfg.redis.on('close', this.failUnanswered);
    cfg.redis.on('ready', this.runIds.forget);
  }

  /**
   * This node took the lead (its takeover heals what Redis lacks): a Redis restarted before is no
   * change to report (it took the lead a second time, and healed twice, after most restarts).
   */
  newTerm(): void {
    this.runIds.newTerm();
  }

  /** Lets go of the connection's events (the connection stays the caller's). */
  close(): void {
    this.cfg.redis.off('close', this.failUnanswered);
    this.cfg.redis.off('ready', this.runIds.forget);
  }

  /** The connection dropped: its unanswered writes fail (see failUnansweredWrites). */
  private readonly failUnanswered = (): void => {
    // The next connection may reach another Redis: nothing goes with the old run id. (Commands made
    // while disconnected would wait in ioredis's offline queue and go before 'ready' tells us: the
    // writer's connection keeps that queue off, enableOfflineQueue: false, as the ingest node's does.)
    this.runIds.forget();
    failUnansweredWrites(this.cfg.redis);
  };

  /** How many bars Redis holds for each series, and the newest one's open time (in one round trip). */
  storedExtents(ids: readonly SeriesId[]): Promise<StoredExtent[]> {
    return storedExtents(this.redis, this.cfg.keyPrefix, ids);
  }

  /** One bar update under the lease `token`, sent with the others of this turn (see BarWriteQueue.write). */
  write(token: string, id: SeriesId, bar: Bar, options: { begins?: boolean } = {}): Promise<BarWriteResult> {
    return this.bars.write(token, id, bar, options);
  }

  /** A series' whole window under the lease `token`, in order with the other writes (see BarWriteQueue.writeWindow). */
  writeWindow(token: string, id: SeriesId, bars: readonly Bar[]): Promise<WindowResult> {
    return this.bars.writeWindow(token, id, bars);
  }

  /** A bar series freed (or held again): see LogExpiries.expireSeries. */
  expireSeries(token: string, id: SeriesId, ttlMs: number): Promise<boolean> {
    return this.expiries.expireSeries(token, id, ttlMs);
  }

  /** Any log's keys to expire (or kept): see LogExpiries.expireLog. */
  expireLog(token: string, k: SeriesKeys, ttlMs: number): Promise<boolean> {
    return this.expiries.expireLog(token, k, ttlMs);
  }

  /** A derived-series instance's log freed (or held again): see LogExpiries.freeInstanceLog. */
  freeInstanceLog(token: string, member: string, k: SeriesKeys, ttlMs: number): Promise<boolean> {
    return this.expiries.freeInstanceLog(token, member, k, ttlMs);
  }

  /** One derived-series point into an instance's log (see InstanceLogWrites.writePoint). */
  writePoint(token: string, keys: SeriesKeys, point: SeriesPoint): Promise<WriteResult> {
    return this.instances.writePoint(token, keys, point);
  }

  /** An instance's status into its log (see InstanceLogWrites.writeStatus). */
  writeStatus(token: string, keys: SeriesKeys, status: InstanceStatus): Promise<WriteResult> {
    return this.instances.writeStatus(token, keys, status);
  }

  /** Many points of one instance's log, one promise per point (see InstanceLogWrites.writePoints). */
  writePoints(token: string, keys: SeriesKeys, points: readonly SeriesPoint[]): Array<Promise<WriteResult>> {
    return this.instances.writePoints(token, keys, points);
  }
}
