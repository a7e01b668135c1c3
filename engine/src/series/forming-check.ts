// The forming/closed contract (docs/operators.md §4), checked on a module's default parameters before
// the engine runs it: a closed value must not depend on the forming updates fed before its bar closed.
// Forming bars reach a live instance only while someone watches; ranges, the CLI, replays and restarts
// see closed bars alone, so an operator that keeps state on forming bars shows live values no other
// path gives (documented, and until now not detected).
import type { Bar } from '../domain/bar.ts';
import { nextOpen } from '../domain/interval.ts';
import { openSeriesRuns } from './anchored-runs.ts';
import { type SeriesDefinition, type SeriesPoint, warmupBars } from './define-series.ts';

/** Bars fed past the warm-up, and the most in all (each with FORMING_UPDATES before it on one side). */
const BARS_PAST_WARMUP = 200;
const MAX_BARS = 5_200;
const FORMING_UPDATES = 3;
/** The check stops here, comparing what both runs were fed by then: a slow operator is never refused for its speed. */
const BUDGET_MS = 2_000;

/** A fixed walk of prices (the same bars on every start): a seeded LCG, no Math.random. */
function* bars(count: number, interval: string): Generator<{ forming: Bar[]; closed: Bar }> {
  let seed = 12_345;
  const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
  let price = 100;
  let openTime = Date.UTC(2024, 0, 1);
  for (let i = 0; i < count; i++) {
    const open = price;
    const forming: Bar[] = [];
    let high = open;
    let low = open;
    let volume = 0;
    for (let k = 0; k <= FORMING_UPDATES; k++) {
      price = Math.max(1, price + (rnd() - 0.5) * 2);
      high = Math.max(high, price);
      low = Math.min(low, price);
      volume += 1 + Math.floor(rnd() * 50);
      const bar = { openTime, open, high, low, close: price, volume, closed: k === FORMING_UPDATES };
      if (bar.closed) yield { forming, closed: bar };
      else forming.push(bar);
    }
    openTime = nextOpen(openTime, interval);
  }
}

const valueText = (p: SeriesPoint) => JSON.stringify(p.values ?? p.value ?? null, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));

/** What the check saw: closed points compared, whether a run failed (then nothing is said), the difference. */
export interface FormingCheck {
  closedPoints: number;
  failed: boolean;
  problem?: string;
}

/**
 * Feeds the definition's operator (default parameters, its interval or 1m) a fixed walk of bars twice:
 * closed bars alone, and each bar's forming updates before it, and compares their closed points. A
 * run that fails says nothing here: a throw is the live path's to report, with the bar that caused it.
 */
export function checkForming(def: SeriesDefinition): FormingCheck {
  const interval = def.interval ?? '1m';
  let count: number;
  try {
    count = Math.min(MAX_BARS, warmupBars(def, def.params, interval) + BARS_PAST_WARMUP);
  } catch {
    return { closedPoints: 0, failed: true };
  }
  const closedOnly = new Map<number, string>();
  const withForming = new Map<number, string>();
  let failed = false;
  const collect = (into: Map<number, string>) => (p: SeriesPoint) => void (p.closed && into.set(p.time, valueText(p)));
  const start = (into: Map<number, string>) => {
    try {
      // One run (no blocks): the contract is about the operator, not the engine's anchoring.
      return openSeriesRuns(() => def.operator(def.params), 0, undefined, interval, collect(into), () => (failed = true));
    } catch {
      failed = true;
      return undefined;
    }
  };
  const a = start(closedOnly);
  const b = start(withForming);
  const deadline = performance.now() + BUDGET_MS;
  try {
    for (const { forming, closed } of bars(count, interval)) {
      if (failed || !a || !b || performance.now() > deadline) break;
      a.next(closed);
      for (const f of forming) b.next(f);
      b.next(closed);
    }
  } finally {
    a?.stop();
    b?.stop();
  }
  if (failed) return { closedPoints: 0, failed };
  const times = [...new Set([...closedOnly.keys(), ...withForming.keys()])].sort((x, y) => x - y);
  for (const t of times) {
    const [x, y] = [closedOnly.get(t), withForming.get(t)];
    if (x === y) continue;
    const said = (v: string | undefined) => (v === undefined ? 'no closed point' : v);
    const problem = `its closed point at ${new Date(t).toISOString()} is ${said(x)} when fed closed bars alone and ${said(y)} when each bar's forming updates come first. Closed values must come from closed bars alone (live instances see forming bars, ranges, the CLI and restarts do not): filter((b) => b.closed) before any state, or write a kernel with formingAware (docs/operators.md §4)`;
    return { closedPoints: times.length, failed, problem };
  }
  return { closedPoints: times.length, failed };
}

/** What breaks the contract, said for the module's author (see checkForming), or undefined. */
export const formingProblem = (def: SeriesDefinition): string | undefined => checkForming(def).problem;
