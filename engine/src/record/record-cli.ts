import { parseArgs } from 'node:util';
import { startApp } from '../app.ts';
import { loadConfig } from '../config/config.ts';
import { ConfigError } from '../domain/errors.ts';
import { createLogger } from '../log.ts';
import { fsReason } from './recording-file-error.ts';

/**
 * `npm run record -- --out rec.jsonl.gz [--symbols BTCUSDT,ETHUSDT] [--intervals 1m,5m] [--minutes 5] [--source auto|binance|sim]`
 * runs the engine (no clients needed) and writes every upstream frame and REST response it receives.
 */
function usage(msg: string): never {
  process.stderr.write(`record: ${msg}\nusage: npm run record -- --out <file> [--symbols A,B] [--intervals 1m,5m] [--minutes N] [--source auto|binance|sim]\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: { out: { type: 'string' }, symbols: { type: 'string' }, intervals: { type: 'string' }, minutes: { type: 'string', default: '5' }, source: { type: 'string' } },
    strict: true,
  }));
} catch (e) {
  usage((e as Error).message);
}
if (!values.out) usage('--out is required');
const out = values.out;
const minutes = Number(values.minutes);
if (!(minutes > 0 && minutes <= 7 * 24 * 60)) usage(`--minutes ${values.minutes}: expected a number of minutes above 0`);

// Before the config: a replay source asks for REPLAY_FILE, and its error named that instead.
if (values.source === 'replay') usage('--source replay: recording a replay is not useful');
let config;
try {
  config = loadConfig({
    ...process.env,
    ...(values.symbols ? { SYMBOLS: values.symbols } : {}),
    ...(values.intervals ? { INTERVALS: values.intervals } : {}),
    ...(values.source ? { SOURCE: values.source } : {}),
    RECORD_FILE: values.out,
    PORT: process.env.PORT ?? '0',
    CLIENT_DIR: '',
  });
} catch (e) {
  if (e instanceof ConfigError) usage(e.message);
  throw e;
}
const log = createLogger(config.logLevel);
// The engine goes on serving when its recording stops (a full disk); this process only records, so it stops with it.
let failure: Error | undefined;
let app: Awaited<ReturnType<typeof startApp>> | undefined;
try {
  app = await startApp({ ...config, log });
} catch (e) {
  // The engine names RECORD_FILE; here the path came from --out.
  if (e instanceof ConfigError && e.info.variable === 'RECORD_FILE') usage(`--out ${JSON.stringify(values.out)} is invalid: expected ${e.info.accepted}`);
  if (e instanceof ConfigError) usage(e.message);
  throw e;
}
// Nothing awaits between the start and here: a recorder that stops later finds the timer set.
const timer = setTimeout(() => void stop(), minutes * 60_000);
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearTimeout(timer);
  await app!.stop();
  // Also a write that failed while closing flushed the last of it.
  if (failure) {
    process.stderr.write(`record: the recording to ${out} stopped: it could not be written (${fsReason(failure)}); what it holds ends there\n`);
    process.exit(1);
  }
  log.info(`recording written: ${out}`);
  process.exit(0);
}
log.info(`recording for ${minutes} min to ${out}`);
void app.recorder?.failure.then((err) => {
  failure = err;
  void stop();
});
