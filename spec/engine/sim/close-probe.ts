/**
 * Run as a child process by sim-lifecycle.spec.ts: uses every kind of resource the simulator has
 * (keep-alive REST, raw and combined sockets, a delayed final and a pending shutdown close), calls
 * close() and leaves the clients alone. The process must then exit by itself.
 */
import WebSocket from 'ws';
import { startSimExchange } from '../../../engine/sim/sim-exchange.ts';

const sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 20, clockSpeed: 600, pingIntervalMs: 30, maxIncomingPerSecond: 1000 });
const res = await fetch(`${sim.restUrl}/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=3`);
if (res.status !== 200) throw new Error(`REST ${res.status}`);
await res.json();
sim.faults.delayFinals(60_000);
const sockets = [new WebSocket(`${sim.wsUrl}/ws/btcusdt@kline_1m`), new WebSocket(`${sim.wsUrl}/stream?streams=btcusdt@kline_1s`)];
let frames = 0;
for (const ws of sockets) ws.on('message', () => frames++);
await new Promise((resolve) => setTimeout(resolve, 300));
sim.faults.serverShutdown(60_000);
await sim.close();
const closed = await Promise.all(sockets.map((ws) => new Promise<boolean>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve(true) : ws.once('close', () => resolve(true))))));
let refused = false;
try {
  await fetch(`${sim.restUrl}/api/v3/ping`);
} catch {
  refused = true;
}
process.stdout.write(`${JSON.stringify({ frames, closed: closed.every(Boolean), refused })}\n`);
