// The forming/closed contract (docs/operators.md §4), checked on a module's default parameters before
// the engine runs it: a closed value must follow from the closed bars alone. Forming bars reach a live
// instance only while someone watches; ranges, the CLI, replays and restarts see closed bars alone, so
// an operator that keeps state on forming bars shows live values no other path gives.
import type { Bar } from '../domain/bar.ts';
import { BINANCE_INTERVALS, nextOpen } from '../domain/interval.ts';
import { openSeriesRuns, type OperatorRun } from './anchored-runs.ts';
import { type SeriesDefinition, type SeriesPoint, warmupBars } from './define-series.ts';

/** Bars fed past the warm-up, and the most in all: a fixed count, so the verdict never depends on the CPU. */
const BARS_PAST_WARMUP = 200;
const MAX_BARS = 5_200;
/** Forming updates before each closed bar (one shows a leak; two show a count of updates). */
const FORMING_UPDATES = 2;
/** Feeding stops here whatever is left (only an operator far slower than any live one reaches it). */
export const CHECK_BUDGET_MS = 15_000;
const START = Date.UTC(2024, 0, 1);

/**
 * A fixed walk (the same bars on every start, a seeded LCG): prices on a 0.01 tick and volumes of 3
 * decimals, as an exchange's, so a sum that adds a forming bar and takes it back off shows its
 * rounding (values exactly representable in binary hid it: a review).
 */
function* bars(count: number, interval: string): Generator<{ forming: Bar[]; closed: Bar }> {
  let seed = 12_345;
  const rnd = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
  const tick = (x: number) => Math.round(x * 100) / 100;
  let price = 100;
  let openTime = START;
  for (let i = 0; i < count; i++) {
    const open = price;
    const forming: Bar[] = [];
    let [high, low, volume] = [open, open, 0];
    for (let k = 0; k <= FORMING_UPDATES; k++) {
      price = Math.max(1, tick(price + (rnd() - 0.5) * 2));
      high = Math.max(high, price);
      low = Math.min(low, price);
      volume = Math.round((volume + 0.001 + rnd() * 50) * 1000) / 1000;
      const bar = { openTime, open, high, low, close: price, volume, closed: k === FORMING_UPDATES };
      if (bar.closed) yield { forming, closed: bar };
      else forming.push(bar);
    }
    openTime = nextOpen(openTime, interval);
  }
}

const num = (v: unknown) => (v === null || v === undefined ? 'null' : String(v));
/** A point's value as its author reads it: numbers as numbers (NaN unquoted), a multi-valued point's keys. */
const valueText = (p: SeriesPoint) =>
  p.values && typeof p.values === 'object'
    ? `{ ${Object.entries(p.values)
        .map(([k, v]) => `${k}: ${num(v)}`)
        .join(', ')} }`
    : num(p.value);

/** The interval checked: the pinned one, else 1m, else the finest whose warm-up fits (one over the cap on 1m still runs on coarser). */
function checkedInterval(def: SeriesDefinition): { interval: string; warmup: number } | undefined {
  for (const interval of def.interval ? [def.interval] : ['1m', ...BINANCE_INTERVALS.filter((i) => i !== '1m' && i !== '1s')]) {
    try {
      return { interval, warmup: warmupBars(def, def.params, interval) };
    } catch {
      // Over the cap (or refused) on this interval: the next.
    }
  }
  return undefined;
}

/** Closed points one run emitted, with the bar they came at (so a run that fails later keeps what came before). */
type Emitted = Array<{ bar: number; time: number; text: string }>;

/** Per time, the closed values emitted in turn (a value repeated at once counted once: resending the same is no repaint). */
function closedByTime(points: Emitted, beforeBar: number): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const p of points) {
    if (p.bar >= beforeBar) break;
    const seq = out.get(p.time) ?? [];
    if (seq.at(-1) !== p.text) seq.push(p.text);
    out.set(p.time, seq);
  }
  return out;
}

/** The first time whose closed values differ between two runs, with both. */
function firstDifference(a: Map<number, string[]>, b: Map<number, string[]>): { time: number; a: string; b: string } | undefined {
  const said = (seq: string[] | undefined) => (seq?.length ? seq.join(', then ') : 'none');
  for (const t of [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => x - y)) {
    const [x, y] = [said(a.get(t)), said(b.get(t))];
    if (x !== y) return { time: t, a: x, b: y };
  }
  return undefined;
}

/** What the check saw: bars compared, closed points compared, the difference it found. */
export interface FormingCheck {
  bars: number;
  closedPoints: number;
  problem?: string;
}

/**
 * Feeds the definition's operator (default parameters; its pinned interval, else 1m or the finest its
 * warm-up fits) a fixed walk of bars three ways, side by side: closed bars alone, twice (two runs over
 * the same bars must agree: no clock, no randomness, no state shared at module scope), and each bar's
 * forming updates first; the closed points each emits, in turn, must be the same. A run that fails (a
 * throw is the live path's to report, with its bar) ends the comparison at the bar it failed on.
 */
export function checkForming(def: SeriesDefinition, budgetMs = CHECK_BUDGET_MS): FormingCheck {
  const on = checkedInterval(def);
  if (!on) return { bars: 0, closedPoints: 0 };
  const { interval, warmup } = on;
  let bar = 0;
  let failedAt = Number.POSITIVE_INFINITY;
  const start = (into: Emitted): OperatorRun | undefined => {
    const collect = (p: SeriesPoint) => void (p.closed && into.push({ bar, time: p.time, text: valueText(p) }));
    try {
      // One run (no blocks): the contract is about the operator, not the engine's anchoring.
      return openSeriesRuns(() => def.operator(def.params), 0, undefined, interval, collect, () => (failedAt = Math.min(failedAt, bar)));
    } catch {
      failedAt = 0;
      return undefined;
    }
  };
  const [alone, again, forming]: Emitted[] = [[], [], []];
  const runs = [start(alone), start(again), start(forming)];
  const [a, a2, b] = runs;
  const deadline = performance.now() + budgetMs;
  try {
    for (const next of bars(Math.min(MAX_BARS, warmup + BARS_PAST_WARMUP), interval)) {
      if (!a || !a2 || !b || failedAt <= bar || performance.now() > deadline) break;
      a.next(next.closed);
      a2.next(next.closed);
      for (const f of next.forming) b.next(f);
      b.next(next.closed);
      bar++;
    }
  } finally {
    for (const r of runs) r?.stop();
  }
  const upTo = Math.min(bar, failedAt);
  const [x, y, z] = [closedByTime(alone, upTo), closedByTime(again, upTo), closedByTime(forming, upTo)];
  const walk = `(the check's own bars: ${interval}, from ${new Date(START).toISOString()}, prices near 100; default parameters)`;
  const at = (t: number) => new Date(t).toISOString();
  const seen = { bars: upTo, closedPoints: x.size };
  const random = firstDifference(x, y);
  if (random) {
    return {
      ...seen,
      problem: `two runs over the same closed bars disagree: its closed point at ${at(random.time)} is ${random.a} in one and ${random.b} in the other. Values must follow from the bars alone: not from Math.random, the clock, or state kept outside the operator (at module scope every symbol's instance shares it) ${walk}`,
    };
  }
  const leak = firstDifference(x, z);
  if (leak) {
    return {
      ...seen,
      problem: `with closed bars alone its closed point at ${at(leak.time)} is ${leak.a}; with each bar's forming updates fed first it is ${leak.b}. Closed values must come from closed bars alone, each sent once (live instances see forming bars; ranges, the CLI and restarts do not): filter((b) => b.closed) before any state, or write a kernel with formingAware (docs/operators.md §4) ${walk}`,
    };
  }
  return seen;
}

/** What breaks the contract, said for the module's author (see checkForming), or undefined. */
export const formingProblem = (def: SeriesDefinition, budgetMs?: number): string | undefined => checkForming(def, budgetMs).problem;
