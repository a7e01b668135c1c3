import type { Redis } from 'ioredis';
import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import { encodeBar } from './bar-codec.ts';
import { type SeriesKeys, seriesKeys } from './cluster-keys.ts';
import { POINT_WRITE_LUA, WRITE_LUA } from './cluster-scripts.ts';
import type { SeriesPoint } from '../series/define-series.ts';
import { encodePoint, encodeStatus, type InstanceStatus } from './point-codec.ts';
import { redisRunId } from './redis-identity.ts';
import { newEpoch } from './series-log.ts';

export type WriteResult = { kind: 'written' | 'dropped'; epoch: string; offset: number } | { kind: 'fenced' };

export interface FencedWriterConfig {
  redis: Redis;
  keyPrefix?: string;
  leaseKey: string;
  /** Bars kept per series (the sorted set's cap). */
  bufferSize: number;
  /** Updates kept per series for resumes and edge repairs. */
  historyUpdates: number;
}

/** A derived series instance's log not written for this long is dropped by Redis (nobody computes it any more). */
export const INSTANCE_LOG_TTL_MS = 24 * 3_600_000;

type WithWrite = Redis & {
  clusterWrite(...args: Array<string | number>): Promise<[number, number?, string?]>;
  clusterWritePoint(...args: Array<string | number>): Promise<[number, number?, string?]>;
};

/**
 * The leader's only way to write: one script per update (see WRITE_LUA) that checks the lease still
 * holds `token`, drops an update older than the stored version of its bar, upserts it, advances the
 * series' offset, appends it to the bounded history and publishes it, atomically. Writes on one
 * connection reach Redis in the order they were made, so a series' offsets follow its updates.
 */
export class FencedWriter {
  private readonly redis: WithWrite;
  private runId: Promise<string> | undefined;
  /** The run id once learned on the current connection: writes then go out in the caller's turn. */
  private knownRunId: string | undefined;
  /** Writes waiting for the run id: until they are sent, later ones wait behind them (order). */
  private waiting = 0;

  constructor(private readonly cfg: FencedWriterConfig) {
    if (!(cfg.bufferSize >= 1) || !(cfg.historyUpdates >= 1)) throw new TypeError('FencedWriter: bufferSize and historyUpdates must be >= 1');
    this.redis = cfg.redis as WithWrite;
    if (typeof (cfg.redis as unknown as { clusterWrite?: unknown }).clusterWrite !== 'function') cfg.redis.defineCommand('clusterWrite', { numberOfKeys: 4, lua: WRITE_LUA });
    if (typeof (cfg.redis as unknown as { clusterWritePoint?: unknown }).clusterWritePoint !== 'function') cfg.redis.defineCommand('clusterWritePoint', { numberOfKeys: 4, lua: POINT_WRITE_LUA });
    // A new connection may reach a restarted Redis: learn its identity again before the next write.
    cfg.redis.on('ready', () => {
      this.runId = undefined;
      this.knownRunId = undefined;
    });
  }

  /** How many bars Redis holds for each series (in one round trip). */
  async storedCounts(ids: readonly SeriesId[]): Promise<number[]> {
    if (!ids.length) return [];
    const p = this.redis.pipeline();
    for (const id of ids) p.zcard(seriesKeys(id, this.cfg.keyPrefix).candles);
    const out = (await p.exec()) ?? [];
    return ids.map((_, i) => {
      const [err, n] = out[i] ?? [new Error('no reply'), 0];
      if (err) throw err;
      return Number(n);
    });
  }

  private identity(): Promise<string> {
    if (this.runId) return this.runId;
    const p = (this.runId = redisRunId(this.redis));
    p.then(
      (id) => {
        if (this.runId === p) this.knownRunId = id;
      },
      () => {
        if (this.runId === p) this.runId = undefined;
      },
    );
    return p;
  }

  /**
   * Writes one update under the lease `token`. Rejects when Redis cannot be reached (nothing was
   * written then, or the retry is idempotent). Once the Redis identity is known the command is sent
   * before this returns, not a microtask later: a burst of upstream frames handled in one turn then
   * reaches Redis frame by frame instead of after the whole burst was processed.
   */
  write(token: string, id: SeriesId, bar: Bar): Promise<WriteResult> {
    if (this.knownRunId !== undefined && this.waiting === 0) return this.send(this.knownRunId, token, id, bar);
    this.waiting++;
    const sent = (runId: string) => {
      this.waiting--;
      return this.send(runId, token, id, bar);
    };
    return this.identity().then(sent, (e: unknown) => {
      this.waiting--;
      throw e;
    });
  }

  private async send(runId: string, token: string, id: SeriesId, bar: Bar): Promise<WriteResult> {
    const k = seriesKeys(id, this.cfg.keyPrefix);
    const r = await this.redis.clusterWrite(
      this.cfg.leaseKey,
      k.candles,
      k.pos,
      k.hist,
      token,
      bar.openTime,
      encodeBar(bar),
      bar.closed ? 1 : 0,
      bar.volume,
      this.cfg.bufferSize,
      this.cfg.historyUpdates,
      runId,
      newEpoch(),
      k.channel,
    );
    if (r[0] === -1) return { kind: 'fenced' };
    return { kind: r[0] === 1 ? 'written' : 'dropped', offset: Number(r[1]), epoch: String(r[2]) };
  }

  /**
   * Writes one derived-series point into an instance's log (`instanceKeys`) under the lease `token`:
   * the same fencing, offsets, history and publish as a bar (see POINT_WRITE_LUA for its version check).
   * The log keeps `bufferSize` points and the instance's status.
   */
  writePoint(token: string, keys: SeriesKeys, point: SeriesPoint): Promise<WriteResult> {
    return this.writeInstance(token, keys, point.time, encodePoint(point), point.closed ? 1 : 0);
  }

  /** Writes an instance's status (failed with its error, or live) into its log: stored above every point, so a snapshot has it. */
  writeStatus(token: string, keys: SeriesKeys, status: InstanceStatus): Promise<WriteResult> {
    return this.writeInstance(token, keys, '+inf', encodeStatus(status), 1);
  }

  private async writeInstance(token: string, keys: SeriesKeys, score: number | string, member: string, closed: number): Promise<WriteResult> {
    const runId = await this.identity();
    const r = await this.redis.clusterWritePoint(
      this.cfg.leaseKey,
      keys.candles,
      keys.pos,
      keys.hist,
      token,
      score,
      member,
      closed,
      this.cfg.bufferSize + 1,
      this.cfg.historyUpdates,
      runId,
      newEpoch(),
      keys.channel,
      INSTANCE_LOG_TTL_MS,
    );
    if (r[0] === -1) return { kind: 'fenced' };
    return { kind: r[0] === 1 ? 'written' : 'dropped', offset: Number(r[1]), epoch: String(r[2]) };
  }
}
