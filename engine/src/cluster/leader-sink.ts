import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { FencedWriter } from './fenced-writer.ts';
import type { LeaderLease } from './leader-lease.ts';

export interface LeaderSinkConfig {
  writer: FencedWriter;
  lease: LeaderLease;
  /** The series this node follows and their newest bars (the hot windows), for the heal at takeover. */
  series(): readonly SeriesId[];
  tail(id: SeriesId, n: number): Bar[];
  /** Bars of each series rewritten when this node starts leading (default 10). */
  healBars?: number;
  /** Updates waiting while Redis is unreachable, per series (newest per open time; default 1000). */
  maxPending?: number;
  log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
  metrics?: { written(n: number): void; dropped(n: number): void; fenced(): void };
}

/**
 * Where an ingest node's updates go (ROLE=ingest). Every node runs its pipelines (a hot standby);
 * only the leader writes, through the fenced writer. A refused write (the lease is another's) steps
 * this node down at once. A write that failed to reach Redis is kept (newest per bar, bounded) and
 * retried in order. On taking the lead the node rewrites the tail of every series: what the old leader
 * did not write gets written, and the version check drops the rest (the heal is idempotent).
 */
export class LeaderSink {
  private readonly pending = new Map<string, { id: SeriesId; bars: Map<number, Bar> }>();
  private retrying: NodeJS.Timeout | undefined;
  private readonly sub;

  constructor(private readonly cfg: LeaderSinkConfig) {
    this.sub = cfg.lease.leader$.subscribe((leader) => {
      if (leader) this.heal();
      else this.pending.clear();
    });
  }

  publish(id: SeriesId, bar: Bar): void {
    const s = this.cfg.lease.state;
    if (!s.leader) return;
    this.send(s.token!, id, bar);
  }

  private send(token: string, id: SeriesId, bar: Bar): void {
    this.cfg.writer.write(token, id, bar).then(
      (r) => {
        if (r.kind === 'fenced') {
          this.cfg.metrics?.fenced();
          this.cfg.lease.stepDown('a write was refused: the lease is held by another node (fenced)');
        } else if (r.kind === 'written') this.cfg.metrics?.written(1);
        else this.cfg.metrics?.dropped(1);
      },
      () => this.keep(id, bar),
    );
  }

  private keep(id: SeriesId, bar: Bar): void {
    let p = this.pending.get(id.key);
    if (!p) this.pending.set(id.key, (p = { id, bars: new Map() }));
    const old = p.bars.get(bar.openTime);
    // Newest version per bar: a later update of the same bar replaces an earlier one.
    if (!old || bar.closed || (!old.closed && bar.volume >= old.volume)) p.bars.set(bar.openTime, bar);
    if (p.bars.size > (this.cfg.maxPending ?? 1000)) p.bars.delete(Math.min(...p.bars.keys()));
    this.retryLater();
  }

  private retryLater(): void {
    if (this.retrying) return;
    this.retrying = setTimeout(() => {
      this.retrying = undefined;
      const s = this.cfg.lease.state;
      if (!s.leader) return this.pending.clear();
      const batch = [...this.pending.values()];
      this.pending.clear();
      for (const { id, bars } of batch) for (const b of [...bars.values()].sort((x, y) => x.openTime - y.openTime)) this.send(s.token!, id, b);
    }, 250);
  }

  private heal(): void {
    const s = this.cfg.lease.state;
    if (!s.leader) return;
    const n = this.cfg.healBars ?? 10;
    let count = 0;
    for (const id of this.cfg.series()) {
      for (const b of this.cfg.tail(id, n)) {
        this.send(s.token!, id, b);
        count++;
      }
    }
    this.cfg.log?.('info', `leader (term ${s.term}): healing the tail, ${count} bars rewritten (the version check drops what Redis has)`);
  }

  stop(): void {
    this.sub.unsubscribe();
    clearTimeout(this.retrying);
  }
}
