import { expect } from 'vitest';
import type { SimExchange } from '../../engine/sim/sim-exchange.ts';
import type { EngineClient, WireCandle } from './ws-client.ts';

const M = 60_000;

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

/** Bars older than the newest the client had when they came: what the repair sent. */
function lateBars(client: EngineClient): number[] {
  let newest = Math.max(...(client.historical()?.data ?? []).map((c) => c.time));
  const late: number[] = [];
  for (const m of client.live()) {
    if (m.time < newest) late.push(m.time);
    newest = Math.max(newest, m.time);
  }
  return late;
}

/**
 * What a new client (or a chart reloading) reads has no hole, and the connected client's series
 * (historical then every live update by time) is whole, its closed bars the exchange's.
 */
export async function wholeAndTrue(sim: SimExchange, client: EngineClient, bars: () => Promise<WireCandle[]>): Promise<void> {
  const holes = (xs: WireCandle[]) => xs.slice(1).filter((c, i) => c.time - xs[i]!.time !== M).map((c) => c.time);
  for (const deadline = Date.now() + 30_000; holes(await bars()).length; await sleep(200)) {
    if (Date.now() > deadline) throw new Error(`what is served still lacks ${holes(await bars()).join(', ')}`);
  }
  await client.until((c) => holes(c.merged()).length === 0 && lateBars(c).length > 0, 30_000, 'the hole repaired on the client');
  const closed = client.merged().filter((c) => c.is_closed);
  const truth = sim.truth('BTCUSDT', '1m', closed[0]!.time, closed.at(-1)!.time);
  expect(closed.map((c) => [c.time, c.open, c.high, c.low, c.close, c.volume])).toEqual(truth.map((b) => [b.openTime, b.open, b.high, b.low, b.close, b.volume]));
}
