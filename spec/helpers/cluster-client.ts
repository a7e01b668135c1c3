import WebSocket from 'ws';
import { expect } from 'vitest';

/**
 * A browser-like client of a cluster (issue 13) that records everything it receives, and the checks
 * the cluster specs make on what it recorded: no hole, no duplicate, closed candles equal to the
 * exchange's, and a resume that brings exactly the missed updates.
 */
export type Msg = { type: string; epoch?: string; offset?: number; time?: number; is_closed?: boolean; recovered?: boolean; data?: Candle[]; [k: string]: unknown };
export type Candle = { time: number; open: number; high: number; low: number; close: number; volume: number; is_closed: boolean };

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const candle = (c: Candle): Candle => ({ time: c.time, open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume, is_closed: c.is_closed });

/** On a lost socket it resumes (`&epoch=&since=`) on the next of `edges()` (one URL behind a load balancer). */
export class ClusterClient {
  readonly messages: Msg[] = [];
  /** Candles as a chart would hold them: replaced by historical, merged by recovered and live. */
  readonly candles = new Map<number, Candle>();
  epoch: string | undefined;
  offset = 0;
  /** Messages with a position received (historical, recovered, live): what `liveAfter` counts. */
  updates = 0;
  /** Sockets opened after the first one. */
  reconnects = 0;
  ws!: WebSocket;
  closed = false;
  private retry: ReturnType<typeof setTimeout> | undefined;
  constructor(
    private readonly edges: () => string[],
    private readonly path: string,
    private which = 0,
  ) {
    this.open();
  }
  private open() {
    const base = this.edges()[this.which % this.edges().length]!;
    const resume = this.epoch ? `&epoch=${this.epoch}&since=${this.offset}` : '';
    const ws = (this.ws = new WebSocket(`${base}${this.path}${resume}`));
    ws.on('message', (d) => this.onMessage(JSON.parse(d.toString()) as Msg));
    ws.on('error', () => {}); // a refused or reset socket: its close follows
    ws.on('close', () => {
      if (this.closed) return;
      this.which++;
      this.reconnects++;
      this.retry = setTimeout(() => this.open(), 100);
    });
  }
  private onMessage(m: Msg) {
    this.messages.push(m);
    if (m.type === 'historical') {
      this.candles.clear();
      for (const c of m.data!) this.candles.set(c.time, candle(c));
    } else if (m.type === 'recovered') for (const c of m.data!) this.candles.set(c.time, candle(c));
    else if (m.type === 'live_candle') this.candles.set(m.time!, candle(m as unknown as Candle));
    else return;
    this.updates++;
    this.epoch = m.epoch;
    this.offset = m.offset!;
  }
  /** Positions in the order received: within an epoch each is the previous + 1 (no hole, no repeat). */
  positions() {
    return this.messages.filter((m) => m.offset !== undefined).map((m) => ({ type: m.type, epoch: m.epoch!, offset: m.offset! }));
  }
  /** Closed candles, oldest first. */
  closedCandles(): Candle[] {
    return [...this.candles.values()].filter((x) => x.is_closed).sort((a, b) => a.time - b.time);
  }
  close() {
    this.closed = true;
    clearTimeout(this.retry);
    this.ws.terminate();
  }
}

/** Every live or recovered position follows the one before it by exactly one in the same epoch. */
export function expectContiguous(c: ClusterClient) {
  const ps = c.positions();
  expect(ps.length).toBeGreaterThan(1);
  for (let i = 1; i < ps.length; i++) {
    const [a, b] = [ps[i - 1]!, ps[i]!];
    if (b.type === 'historical') continue; // a fresh baseline (a new epoch, or recovered:false)
    expect(b.epoch, `message ${i}`).toBe(a.epoch);
    if (b.type === 'recovered') expect(b.offset).toBeGreaterThanOrEqual(a.offset);
    else expect(b.offset, `message ${i} of ${ps.length}`).toBe(a.offset + 1);
  }
}

/** The client's closed candles (more than five) equal `truth` over the same span, bar for bar. */
export async function expectTrueCandles(c: ClusterClient, truth: (from: number, to: number) => Candle[] | Promise<Candle[]>) {
  const closed = c.closedCandles();
  expect(closed.length).toBeGreaterThan(5);
  expect(closed).toEqual(await truth(closed[0]!.time, closed[closed.length - 1]!.time));
}

/**
 * Each `recovered` that `moved` received holds exactly the updates it missed: the latest version of
 * every bar updated after the offset it resumed from, up to the recovered offset, as `witness` (a
 * client that stayed connected through the same span) received them one by one.
 */
export function expectExactlyMissed(moved: ClusterClient, witness: ClusterClient) {
  const positioned = moved.messages.filter((m) => m.offset !== undefined);
  let checked = 0;
  for (let i = 1; i < positioned.length; i++) {
    const rec = positioned[i]!;
    if (rec.type !== 'recovered') continue;
    const since = positioned[i - 1]!.offset!;
    const seen = witness.messages.filter((m) => m.type === 'live_candle' && m.epoch === rec.epoch && m.offset! > since && m.offset! <= rec.offset!);
    expect(seen.map((m) => m.offset), 'the witness saw every update of the span').toEqual(Array.from({ length: rec.offset! - since }, (_, k) => since + 1 + k));
    const latest = new Map<number, Candle>();
    for (const m of seen) latest.set(m.time!, candle(m as unknown as Candle));
    expect(rec.data!.map(candle).sort((a, b) => a.time - b.time)).toEqual([...latest.values()].sort((a, b) => a.time - b.time));
    checked++;
  }
  expect(checked, 'recovered messages checked').toBeGreaterThan(0);
}

/**
 * Resolves once every client received `n` more updates (positioned messages) than it has now.
 * Counted, not read off the offsets: across a new epoch the offsets start again from 1.
 */
export async function liveAfter(clients: readonly ClusterClient[], n: number, timeoutMs = 15_000) {
  const start = clients.map((c) => c.updates);
  const deadline = Date.now() + timeoutMs;
  while (clients.some((c, i) => c.updates < start[i]! + n)) {
    if (Date.now() > deadline) {
      const stuck = clients.find((c, i) => c.updates < start[i]! + n)!;
      const last = stuck.messages.slice(-8).map((m) => `${m.type} ${m.epoch ?? ''} ${m.offset ?? ''} ${m.data ? `[${m.data.length} bars]` : ''}`);
      throw new Error(`clients did not receive ${n} more updates (offsets now ${clients.map((c) => c.offset).join(',')}); the first stuck one's last messages:\n${last.join('\n')}`);
    }
    await sleep(50);
  }
}
