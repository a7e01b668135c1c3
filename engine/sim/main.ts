import { startSimExchange } from './sim-exchange.ts';

/** `npm run sim`: the simulated exchange alone, so an engine can be pointed at it by URL. */
function int(name: string, def: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || n < min || n > max) {
    process.stderr.write(`configuration error: ${name}=${JSON.stringify(raw)} is invalid: expected a number from ${min} to ${max}\n`);
    process.exit(2);
  }
  return n;
}

const sim = await startSimExchange({
  host: process.env.SIM_HOST || '127.0.0.1',
  port: int('SIM_PORT', 9900, 0, 65535),
  seed: int('SIM_SEED', 1, 0, 2 ** 31),
  clockSpeed: int('SIM_SPEED', 1, 0.001, 100_000),
  pushIntervalMs: int('SIM_PUSH_MS', 2000, 10, 60_000),
  symbols: process.env.SIM_SYMBOLS ? process.env.SIM_SYMBOLS.split(',') : undefined,
});
process.stdout.write(`simulated exchange: REST ${sim.restUrl}  WS ${sim.wsUrl}  (${sim.symbols.length} symbols)\n`);
process.stdout.write(`point the engine at it: SOURCE=binance BINANCE_REST_URL=${sim.restUrl} BINANCE_WS_URL=${sim.wsUrl} npm start\n`);
const stop = () => void sim.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
