import type { Redis } from 'ioredis';
import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import { decodeBar, splitEntry, type Update } from './bar-codec.ts';
import { type SeriesKeys, seriesKeys } from './cluster-keys.ts';
import { HISTORY_LUA, SNAPSHOT_LUA } from './cluster-scripts.ts';
import type { FollowerSnapshot } from './series-follower.ts';


export type HistoryRead<T = Bar> = { ok: true; offset: number; updates: Update<T>[] } | { ok: false; reason: 'epoch' | 'gone' };

type WithReads = Redis & {
  clusterSnapshot(candles: string, pos: string, hist: string, n: number): Promise<Array<string | number>>;
  clusterHistory(pos: string, hist: string, epoch: string, since: number, maxAgeMs: number): Promise<Array<string | number>>;
};

/**
 * What an edge reads from Redis: a series' bars and position in one atomic step (so updates
 * published after it carry larger offsets, and earlier ones smaller or equal), and the updates after
 * an offset from the series' history (a hole's repair, or a resume). Malformed members are skipped
 * and counted by `onMalformed`.
 */
export class SeriesReader {
  private readonly redis: WithReads;

  constructor(
    redis: Redis,
    private readonly keyPrefix = '',
    private readonly onMalformed: (n: number) => void = () => {},
  ) {
    const r = redis as unknown as { clusterSnapshot?: unknown; clusterHistory?: unknown };
    if (typeof r.clusterSnapshot !== 'function') redis.defineCommand('clusterSnapshot', { numberOfKeys: 3, lua: SNAPSHOT_LUA });
    if (typeof r.clusterHistory !== 'function') redis.defineCommand('clusterHistory', { numberOfKeys: 2, lua: HISTORY_LUA });
    this.redis = redis as WithReads;
  }

  /** Bars, position and kept history of a series at one moment (`epoch` '' while never written). */
  snapshot(id: SeriesId, n: number): Promise<FollowerSnapshot> {
    return this.snapshotOf(seriesKeys(id, this.keyPrefix), n, decodeBar);
  }

  /** The same for any log with these keys whose members `decode` reads (a derived series instance's points). */
  async snapshotOf<T>(k: SeriesKeys, n: number, decode: (member: string) => T | undefined): Promise<FollowerSnapshot<T>> {
    const [epoch, offset, count, ...rest] = await this.redis.clusterSnapshot(k.candles, k.pos, k.hist, n);
    const nBars = Number(count);
    const bars: T[] = [];
    for (const m of rest.slice(0, nBars)) {
      const b = decode(String(m));
      if (b) bars.push(b);
    }
    let bad = nBars - bars.length;
    // Only the contiguous tail of the history is usable (a malformed entry cuts it there).
    let history: Array<Update<T> & { at: number }> = [];
    for (const e of rest.slice(nBars)) {
      const u = splitEntry(String(e), decode);
      if (!u) {
        bad++;
        history = [];
        continue;
      }
      history.push({ offset: Number(u.first), at: Number(u.second), bar: u.bar });
    }
    if (bad) this.onMalformed(bad);
    return { epoch: String(epoch), offset: Number(offset), bars, history };
  }

  history(id: SeriesId, epoch: string, since: number, maxAgeMs: number): Promise<HistoryRead> {
    return this.historyOf(seriesKeys(id, this.keyPrefix), epoch, since, maxAgeMs, decodeBar);
  }

  async historyOf<T>(k: SeriesKeys, epoch: string, since: number, maxAgeMs: number, decode: (member: string) => T | undefined): Promise<HistoryRead<T>> {
    const [head, ...entries] = await this.redis.clusterHistory(k.pos, k.hist, epoch, since, maxAgeMs);
    if (head === -1) return { ok: false, reason: 'epoch' };
    if (head === -2) return { ok: false, reason: 'gone' };
    const updates: Update<T>[] = [];
    for (const e of entries) {
      const u = splitEntry(String(e), decode);
      if (!u) {
        this.onMalformed(1);
        // A hole we cannot fill from here: the caller starts over from a snapshot.
        return { ok: false, reason: 'gone' };
      }
      updates.push({ offset: Number(u.first), bar: u.bar });
    }
    return { ok: true, offset: Number(head), updates };
  }
}
