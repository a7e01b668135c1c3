import type { SimExchange } from '../../engine/sim/sim-exchange.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** engine_gaps_unfilled_total of the engine at `url` (its /metrics). */
export const gapsUnfilled = (url: string) => async (): Promise<number> =>
  Number(/^engine_gaps_unfilled_total(?:\{[^}]*\})? (\d+)/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? 0);

/**
 * A hole in the live stream whose REST fill fails (HTTP 400: not retried, so the fill gives up in
 * seconds), then the exchange answers again: the engine repairs the hole on the series' first update
 * GAP_REPAIR_AFTER_MS later. `unfilled` reads the engine's count of fills given up.
 */
export async function holeWithFailingFill(sim: SimExchange, unfilled: () => Promise<number>, pauseMs = 4000): Promise<void> {
  const before = await unfilled();
  sim.faults.failRest({ status: 400, requests: 1_000_000 });
  sim.faults.pauseStream();
  await sleep(pauseMs);
  sim.faults.resumeStream();
  for (const deadline = Date.now() + 30_000; (await unfilled()) === before; await sleep(100)) {
    if (Date.now() > deadline) throw new Error('the fill never failed');
  }
  sim.faults.restoreRest();
}
