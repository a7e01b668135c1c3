import { ConfigError } from '../src/domain/errors.ts';
import { isValidSymbol } from '../src/domain/series-id.ts';
import type { SimOptions } from './sim-exchange.ts';

type Env = Record<string, string | undefined>;

function reject(variable: string, value: string, accepted: string): never {
  throw new ConfigError(`${variable}=${JSON.stringify(value)} is invalid: expected ${accepted}`, { info: { variable, value, accepted } });
}

/** A set variable that must be a number in [min, max] (an integer unless `fraction`). */
function numeric(env: Env, variable: string, min: number, max: number, fraction = false): number | undefined {
  const raw = env[variable]?.trim();
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  const shape = fraction ? /^\d+(\.\d+)?$/ : /^\d+$/;
  if (!shape.test(raw) || n < min || n > max) reject(variable, raw, `${fraction ? 'a number' : 'an integer'} from ${min} to ${max}`);
  return n;
}

const EARLIEST_START = Date.UTC(2019, 0, 2); // the day after the simulated listing (history before it is empty)
const LATEST_START = Date.UTC(2100, 0, 1);
const ISO_RE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/** SIM_START: an ISO date (UTC unless it names an offset) or epoch milliseconds, from 2019-01-02 to 2099. */
function simStart(env: Env): number | undefined {
  const raw = env.SIM_START?.trim();
  if (raw === undefined || raw === '') return undefined;
  const accepted = 'an ISO date such as 2024-03-20 or 2024-03-20T12:00:00Z, or epoch milliseconds, from 2019-01-02 to 2099';
  let ms: number;
  if (/^\d{1,16}$/.test(raw)) ms = Number(raw);
  else if (ISO_RE.test(raw)) ms = Date.parse(raw.includes('T') && !/(Z|[+-]\d{2}:\d{2})$/.test(raw) ? `${raw}Z` : raw);
  else reject('SIM_START', raw, accepted);
  // Date.parse takes 2024-02-31 and rolls over; the round trip catches it.
  if (ISO_RE.test(raw) && Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 10) !== raw.slice(0, 10) && !/[+-]\d{2}:\d{2}$/.test(raw)) reject('SIM_START', raw, accepted);
  if (!Number.isFinite(ms) || ms < EARLIEST_START || ms >= LATEST_START) reject('SIM_START', raw, accepted);
  return ms;
}

/**
 * `npm run sim` settings from SIM_PORT, SIM_HOST, SIM_SEED, SIM_SPEED, SIM_PUSH_MS, SIM_START,
 * SIM_UNIVERSE (and SIM_SYMBOLS); throws ConfigError naming the variable.
 */
export function readSimEnv(env: Env = process.env): SimOptions & { port: number } {
  const host = env.SIM_HOST?.trim() || undefined;
  if (host !== undefined && !/^[A-Za-z0-9.:-]+$/.test(host)) reject('SIM_HOST', host, 'a host name or IP address');
  const rawSymbols = env.SIM_SYMBOLS?.trim();
  const symbols = rawSymbols ? rawSymbols.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
  if (symbols && (symbols.length === 0 || !symbols.every(isValidSymbol))) reject('SIM_SYMBOLS', rawSymbols!, 'comma-separated upper-case symbols such as BTCUSDT,ETHUSDT');
  return {
    host,
    port: numeric(env, 'SIM_PORT', 0, 65535) ?? 9900,
    seed: numeric(env, 'SIM_SEED', 0, 2 ** 31 - 1),
    clockSpeed: numeric(env, 'SIM_SPEED', 0.001, 1_000_000, true),
    pushIntervalMs: numeric(env, 'SIM_PUSH_MS', 10, 600_000),
    clockStart: simStart(env),
    universeSize: numeric(env, 'SIM_UNIVERSE', 1, 20_000),
    symbols,
  };
}
