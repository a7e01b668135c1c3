import type { SeriesPoint } from '../series/define-series.ts';
import { MAX_BATCH } from './bar-write-queue.ts';
import type { SeriesKeys } from './cluster-keys.ts';
import type { FencedWriterConfig } from './fenced-writer-config.ts';
import type { FreshEpochs } from './fresh-epochs.ts';
import { encodePoint, encodeStatus, type InstanceStatus } from './point-codec.ts';
import type { RunIdTracker } from './run-id-tracker.ts';
import type { WithWrite } from './write-commands.ts';
import type { WriteResult } from './write-results.ts';

/** A derived series instance's log not written for this long is dropped by Redis (nobody computes it any more). */
export const INSTANCE_LOG_TTL_MS = 24 * 3_600_000;

/** FencedWriter's writes into derived-series instances' logs (`instanceKeys`): points and statuses. */
export class InstanceLogWrites {
  constructor(
    private readonly redis: WithWrite,
    private readonly cfg: FencedWriterConfig,
    private readonly runIds: RunIdTracker,
    private readonly epochs: FreshEpochs,
  ) {}

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

  /**
   * Writes many points of one instance's log (a seed's window) in calls of up to MAX_BATCH points
   * (POINT_BATCH_LUA), in order: one promise per point, as `writePoint` gives.
   */
  writePoints(token: string, keys: SeriesKeys, points: readonly SeriesPoint[]): Array<Promise<WriteResult>> {
    const out: Array<Promise<WriteResult>> = [];
    for (let i = 0; i < points.length; i += MAX_BATCH) {
      const chunk = points.slice(i, i + MAX_BATCH);
      // Encoded now, in the caller's turn: after the await below, every chunk of every caller that
      // turn was encoded in one run of continuations.
      let body = '';
      for (const p of chunk) body += `${p.time} ${p.closed ? 1 : 0} ${encodePoint(p)}\n`;
      const call = this.writePointChunk(token, keys, chunk, body);
      chunk.forEach((_, j) => out.push(call.then((r) => r[j]!)));
    }
    return out;
  }

  private async writePointChunk(token: string, keys: SeriesKeys, points: readonly SeriesPoint[], body: string): Promise<WriteResult[]> {
    const runId = await this.runIds.identity();
    const r = await this.redis.clusterWritePoints(this.cfg.leaseKey, keys.candles, keys.pos, keys.hist, token, this.cfg.bufferSize + 1, this.cfg.historyUpdates, runId, this.epochs.next(), keys.channel, INSTANCE_LOG_TTL_MS, body);
    if (r[0] === -1) return points.map(() => ({ kind: 'fenced' }));
    return points.map((p, i) => {
      const status = r[3 * i];
      if (status === -2) throw new Error(`cluster write of a point at ${p.time} failed in Redis: ${String(r[3 * i + 2])}`);
      return { kind: status === 1 ? 'written' : 'dropped', offset: Number(r[3 * i + 1]), epoch: String(r[3 * i + 2]) };
    });
  }

  private async writeInstance(token: string, keys: SeriesKeys, score: number | string, member: string, closed: number): Promise<WriteResult> {
    const runId = await this.runIds.identity();
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
      this.epochs.next(),
      keys.channel,
      INSTANCE_LOG_TTL_MS,
    );
    if (r[0] === -1) return { kind: 'fenced' };
    return { kind: r[0] === 1 ? 'written' : 'dropped', offset: Number(r[1]), epoch: String(r[2]) };
  }
}
