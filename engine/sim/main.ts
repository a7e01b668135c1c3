import { ConfigError } from '../src/domain/errors.ts';
import { readSimEnv } from './sim-env.ts';
import { startSimExchange } from './sim-exchange.ts';

/** `npm run sim`: the simulated exchange alone, so an engine can be pointed at it by URL. */
let options: ReturnType<typeof readSimEnv>;
try {
  options = readSimEnv();
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  process.stderr.write(`configuration error: ${e.message}\n`);
  process.exit(1);
}

/** A listen failure the settings caused, said as a configuration error naming them (not a stack trace). */
function listenProblem(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException).code;
  const where = `SIM_HOST=${process.env.SIM_HOST ?? '(default)'} SIM_PORT=${process.env.SIM_PORT ?? '(default)'}`;
  if (code === 'EADDRINUSE') return `${where}: the port is in use by another process (SIM_PORT=0 picks a free one)`;
  if (code === 'EACCES') return `${where}: not allowed to listen there (ports below 1024 need privileges)`;
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `${where}: SIM_HOST is not an address of this machine`;
  return undefined;
}

let sim: Awaited<ReturnType<typeof startSimExchange>>;
try {
  sim = await startSimExchange(options);
} catch (e) {
  const problem = listenProblem(e);
  if (!problem) throw e;
  process.stderr.write(`configuration error: ${problem}\n`);
  process.exit(1);
}
process.stdout.write(`simulated exchange: REST ${sim.restUrl}  WS ${sim.wsUrl}  (${sim.symbols.length} trading symbols, clock at ${new Date(sim.now()).toISOString()})\n`);
process.stdout.write(`point the engine at it: SOURCE=binance BINANCE_REST_URL=${sim.restUrl} BINANCE_WS_URL=${sim.wsUrl} npm start\n`);

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  process.stdout.write(`${signal}: closing the simulated exchange\n`);
  sim.close().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`close failed: ${String(e)}\n`);
      process.exit(1);
    },
  );
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
