import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import type { Bar } from '../../../engine/src/domain/bar.ts';
import { type FollowerHistory, type FollowerSnapshot, SeriesFollower } from '../../../engine/src/cluster/series-follower.ts';

/**
 * Model-based test of the edge merge (issue 13): random interleavings of publishes, subscribes,
 * snapshot and history reads answered late, pub/sub messages lost or delivered, connection drops
 * and Redis restarts. The model is the list of bars per series as the leader wrote them.
 */
const SERIES = ['A', 'B'] as const;
type Name = (typeof SERIES)[number];
const HISTORY_CAP = 6;

class Leader {
  epochNo = 1;
  offset = 0;
  /** The model: bars by open time, and every update of this epoch (the leader's truth). */
  bars = new Map<number, Bar>();
  base = new Map<number, Bar>();
  updates: Bar[] = [];
  get epoch() {
    return `e${this.epochNo}`;
  }
  publish(bar: Bar): { epoch: string; offset: number; bar: Bar } {
    this.bars.set(bar.openTime, bar);
    this.updates.push(bar);
    return { epoch: this.epoch, offset: ++this.offset, bar };
  }
  /** Bars as of offset k of the current epoch. */
  stateAt(k: number): Bar[] {
    const m = new Map(this.base);
    for (const b of this.updates.slice(0, k)) m.set(b.openTime, b);
    return sorted(m);
  }
  snapshot(): FollowerSnapshot {
    const first = Math.max(0, this.offset - HISTORY_CAP);
    return { epoch: this.offset === 0 && this.epochNo === 1 ? '' : this.epoch, offset: this.offset, bars: sorted(this.bars), history: this.updates.slice(first).map((bar, i) => ({ offset: first + i + 1, bar, at: 0 })) };
  }
  history(epoch: string, since: number): FollowerHistory {
    if (epoch !== this.epoch || since > this.offset || since < this.offset - HISTORY_CAP) return { ok: false };
    return { ok: true, updates: this.updates.slice(since).map((bar, i) => ({ offset: since + i + 1, bar })) };
  }
  restart(keepData: boolean) {
    this.epochNo++;
    this.offset = 0;
    this.updates = [];
    if (!keepData) this.bars = new Map();
    this.base = new Map(this.bars);
  }
}

const sorted = (m: Map<number, Bar>) => [...m.values()].sort((a, b) => a.openTime - b.openTime);

class Edge {
  view = new Map<number, Bar>();
  epoch: string | undefined;
  offset = 0;
  subscribed = false;
  pendingSnapshot: number | undefined;
  pendingHistory: { ticket: number; epoch: string; since: number } | undefined;
  follower: SeriesFollower;
  constructor() {
    this.follower = new SeriesFollower({
      requestSnapshot: (t) => {
        this.pendingSnapshot = t;
        this.pendingHistory = undefined;
      },
      requestHistory: (ticket, epoch, since) => (this.pendingHistory = { ticket, epoch, since }),
      reset: (snap) => {
        this.view = new Map(snap.bars.map((b) => [b.openTime, b]));
        this.epoch = snap.epoch;
        this.offset = snap.offset;
      },
      apply: (offset, bar) => {
        // Exactly once, in order: never a hole, never a repeat.
        expect(offset).toBe(this.offset + 1);
        this.offset = offset;
        this.view.set(bar.openTime, bar);
      },
    });
  }
}

interface World {
  leaders: Record<Name, Leader>;
  edges: Record<Name, Edge>;
  /** The edge's one pub/sub connection: messages in flight, in order. */
  wire: Array<{ series: Name; epoch: string; offset: number; bar: Bar }>;
  minute: number;
}

/** The edge's view is always the leader's state at the edge's offset (a prefix of the truth). */
function invariant(w: World) {
  for (const s of SERIES) {
    const e = w.edges[s];
    const l = w.leaders[s];
    if (e.epoch === undefined || e.epoch !== (l.offset === 0 && l.epochNo === 1 ? '' : l.epoch)) continue;
    expect(sorted(e.view)).toEqual(l.stateAt(e.offset));
  }
}

type Cmd = fc.Command<object, World>;
const cmd = (name: string, run: (w: World) => void, check: (w: World) => boolean = () => true): Cmd => ({
  check: (() => true) as never,
  run: (_m: object, w: World) => {
    if (!check(w)) return;
    run(w);
    invariant(w);
  },
  toString: () => name,
});

const arbSeries = fc.constantFrom(...SERIES);
const publish = fc.tuple(arbSeries, fc.boolean(), fc.integer({ min: 1, max: 50 }), fc.boolean()).map(([s, nextMinute, vol, closed]) =>
    cmd(`publish ${s}`, (w) => {
      if (nextMinute) w.minute++;
      const msg = w.leaders[s].publish({ openTime: w.minute * 60_000, open: 1, high: 2, low: 0, close: vol, volume: vol, closed });
      if (w.edges[s].subscribed) w.wire.push({ series: s, ...msg });
    }),
  );
const deliver = fc.constant(
  cmd('deliver', (w) => {
    const m = w.wire.shift();
    if (m) w.edges[m.series].follower.onMessage(m.epoch, m.offset, m.bar);
  }),
);
const commands = [
  publish,
  publish,
  publish,
  deliver,
  deliver,
  deliver,
  arbSeries.map((s) =>
    cmd(`subscribe ${s}`, (w) => {
      const e = w.edges[s];
      if (e.subscribed) return;
      e.subscribed = true;
      e.follower.start();
    }),
  ),
  fc.constant(cmd('lose a message', (w) => void w.wire.shift())),
  arbSeries.map((s) =>
    cmd(`snapshot read ${s}`, (w) => {
      const e = w.edges[s];
      if (e.pendingSnapshot === undefined) return;
      const t = e.pendingSnapshot;
      e.pendingSnapshot = undefined;
      e.follower.onSnapshot(t, w.leaders[s].snapshot());
    }),
  ),
  arbSeries.map((s) =>
    cmd(`history read ${s}`, (w) => {
      const e = w.edges[s];
      const h = e.pendingHistory;
      if (!h) return;
      e.pendingHistory = undefined;
      e.follower.onHistory(h.ticket, w.leaders[s].history(h.epoch, h.since));
    }),
  ),
  fc.constant(cmd('pub/sub reconnect', (w) => {
    w.wire = [];
    for (const s of SERIES) if (w.edges[s].subscribed) w.edges[s].follower.onGap();
  })),
  fc.tuple(arbSeries, fc.boolean()).map(([s, keep]) => cmd(`redis restart ${s} ${keep ? 'with' : 'without'} data`, (w) => w.leaders[s].restart(keep))),
];

describe('edge merge (model-based)', () => {
  test.prop([fc.commands(commands, { maxCommands: 200, size: 'large' })], { numRuns: 300 })('applies every update once, in offset order; the view is always a prefix of the truth and ends equal to it', (cmds) => {
    const w: World = { leaders: { A: new Leader(), B: new Leader() }, edges: { A: new Edge(), B: new Edge() }, wire: [], minute: 0 };
    fc.modelRun(() => ({ model: {}, real: w }), cmds);
    // Quiescence: everything delivered, every read answered; a loss at the tail is found by the edge's periodic check (onGap).
    for (const s of SERIES) {
      if (w.edges[s].subscribed) continue;
      w.edges[s].subscribed = true;
      w.edges[s].follower.start();
    }
    for (let round = 0; round < 50; round++) {
      while (w.wire.length) {
        const m = w.wire.shift()!;
        w.edges[m.series].follower.onMessage(m.epoch, m.offset, m.bar);
      }
      let busy = false;
      for (const s of SERIES) {
        const e = w.edges[s];
        if (e.pendingSnapshot !== undefined) {
          const t = e.pendingSnapshot;
          e.pendingSnapshot = undefined;
          e.follower.onSnapshot(t, w.leaders[s].snapshot());
          busy = true;
        } else if (e.pendingHistory) {
          const h = e.pendingHistory;
          e.pendingHistory = undefined;
          e.follower.onHistory(h.ticket, w.leaders[s].history(h.epoch, h.since));
          busy = true;
        } else if (e.offset !== w.leaders[s].offset || e.epoch !== w.leaders[s].snapshot().epoch) {
          e.follower.onGap();
          busy = true;
        }
        invariant(w);
      }
      if (!busy) break;
    }
    for (const s of SERIES) {
      expect(w.edges[s].offset).toBe(w.leaders[s].offset);
      expect(sorted(w.edges[s].view)).toEqual(sorted(w.leaders[s].bars));
    }
  });
});
