/** One step of a fan-out ramp, as far as its cost goes. */
export interface CostStep {
  rate: number;
  ok: boolean;
  window: { deliveredPerS: number; cpu: { server: number; companions: number } };
}

export interface CommonRateCost {
  /** The rate (per stream) compared: the highest both ramps kept up with, within `tolerance`. */
  rate: number;
  /** CPU per delivered message (µs) of each system: its server plus its companions (a cluster's ingest node and Redis). */
  aUs: number;
  bUs: number;
}

/**
 * What each of two systems spends per delivered message at the highest rate both kept up with. Unlike
 * the saturation point, it does not hang on a step's p99 crossing a bound, and it counts all of a
 * system's processes: on a shared machine, what they take is what the rest (here the load generator)
 * does not get. Undefined when no rate was kept up with by both.
 */
export function costAtCommonRate(a: readonly CostStep[], b: readonly CostStep[], tolerance = 0.05): CommonRateCost | undefined {
  const us = (s: CostStep) => ((s.window.cpu.server + s.window.cpu.companions) * 1e6) / s.window.deliveredPerS;
  let best: { x: CostStep; y: CostStep } | undefined;
  for (const y of b) {
    if (!y.ok || (best && y.rate <= best.y.rate)) continue;
    const x = a.find((s) => s.ok && Math.abs(s.rate - y.rate) <= tolerance * y.rate);
    if (x) best = { x, y };
  }
  return best && { rate: best.y.rate, aUs: us(best.x), bUs: us(best.y) };
}
