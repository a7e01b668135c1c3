import { statSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { ConfigError } from '../domain/errors.ts';
import { defaultNodeId, MAX_NODE_ID } from './default-node-id.ts';
import { parseInterval } from '../domain/interval.ts';
import { isValidSymbol } from '../domain/series-id.ts';

export type SourceKind = 'auto' | 'binance' | 'sim' | 'replay';

/** Everything the engine reads from its environment, validated. */
export interface Config {
  port: number;
  host: string;
  /** Symbols kept live at all times; `['*']` (SYMBOLS=*) is every TRADING symbol. */
  symbols: string[];
  intervals: string[];
  bufferSize: number;
  historyOnConnect: number;
  redisUrl: string | undefined;
  /** A Redis command unanswered this long fails; Redis counts as hung and reads come from memory. */
  redisCommandTimeoutMs: number;
  restUrl: string;
  wsUrl: string;
  source: SourceKind;
  /** Per-minute REST weight the engine allows itself (Binance's limit is 6000). */
  restWeightBudget: number;
  restConcurrency: number;
  /** Client history pages (older than the store) each client address may have fetched per minute. */
  clientHistoryPerMinute: number;
  /** Distinct client history pages waiting for the exchange at once; more get 503. */
  clientHistoryQueue: number;
  /** No upstream frame for this long: the connection is replaced. */
  staleAfterMs: number;
  /** Rotate each upstream connection after this long (Binance cuts at 24 h). */
  rotateAfterMs: number;
  /** Per-client send buffer limit before the slow-client policy applies. */
  maxBackpressureBytes: number;
  /** All clients' send buffers together: beyond, those not draining are closed and first messages refused (see send-budget.ts). */
  maxBufferedTotalBytes: number;
  /** Directory of the built web client ('' disables static serving). */
  clientDir: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Directory of user-defined derived series modules ('' disables them). */
  seriesDir: string;
  /** Write every upstream frame and REST response here (gzip JSON lines). */
  recordFile: string | undefined;
  /** SOURCE=replay: the recording to play, and how fast. */
  replayFile: string | undefined;
  replaySpeed: number | 'max';
  /** An on-demand series nobody watched this long is unsubscribed and released (configured ones never). */
  idleSeriesMs: number;
  /** A gap whose REST fill kept failing is tried again on the series' first update after this long. */
  gapRepairAfterMs: number;
  /** The longest a gap's REST fill may hold its series' live updates; then it is left to a repair. */
  gapFillDeadlineMs: number;
  /** Most on-demand series live at once; more are refused until some go idle. */
  maxOnDemandSeries: number;
  /** New on-demand series one client address may start per minute (burst: half of it). */
  onDemandPerMinute: number;
  /** Derived-series instances computed (ROLE=all, the ingest leader) or followed (an edge) at once; more are refused until some go idle. */
  maxSeriesInstances: number;
  /** Share of the engine's time live derived series may take together (SERIES_LIVE_SHARE, 0.01–1; 1 in a replay unless set). */
  seriesLiveShare: number;
  /** Streams per upstream connection (Binance allows 1024). */
  streamsPerConnection: number;
  /** Recent history kept per series for resumes (issue 13): the last this many updates… */
  resumeUpdates: number;
  /** …none older than this. */
  resumeMaxAgeMs: number;
  /** …and all series together about this many (each an equal share: bounded memory with SYMBOLS=*). */
  resumeTotalUpdates: number;
  /** Issue 13: `all` (one process), `ingest` (upstream + fenced writes to Redis) or `edge` (clients, from Redis). */
  role: 'all' | 'ingest' | 'edge';
  /** This node's name in /health and /metrics (default host-pid). */
  nodeId: string;
  /** Ingest nodes: how long the leader's lease lives without renewal (renewed every third of it). */
  leaseTtlMs: number;
  /** Ingest nodes: a leader whose upstream is not live this long hands the lead to a node whose upstream is. */
  upstreamHandoverMs: number;
  /** Ingest nodes: how long a standby's upstream events wait before its pipelines take them (ms; 0 = not held; see ingest-node.ts). */
  standbyLagMs: number;
  /** Origins whose pages may read the public GET endpoints ('*' = any). */
  corsOrigins: string[];
  /** Proxies whose X-Forwarded-For names the client ('*' = any peer); empty = the peer is the client. */
  trustProxy: string[];
  /** Origins allowed to open WebSockets; empty = not checked. */
  allowedOrigins: string[];
  /** WebSocket connections one client address may hold at once (0 = no limit). */
  maxConnectionsPerAddress: number;
  /** WebSocket connections this node holds at once, every address together (0 = no limit). */
  maxClients: number;
  /** New WebSocket connections this node takes a second, every address together, after a burst of MAX_CLIENTS (0 = no limit). */
  maxConnectsPerSecond: number;
  /** JSON API requests one client address may make a second, after a burst (0 = no limit). */
  httpRequestsPerSecond: number;
  /** A WebSocket that sends no frame (answers no ping) for this long is closed (ms). */
  pingTimeoutMs: number;
  /** A WebSocket whose send buffer does not go down for this long is closed (ms; see send-budget.ts). */
  stuckMs: number;
  /** How long a socket closed for not reading stays counted in its address's cap (ms; see held-slots.ts). */
  notReadingHoldMs: number;
}

/** `SYMBOLS=*`: the whole trading universe. */
export const ALL_SYMBOLS = '*';

export function isUniverse(symbols: readonly string[]): boolean {
  return symbols.length === 1 && symbols[0] === ALL_SYMBOLS;
}

export const DEFAULT_SYMBOLS = ['BTCUSDT', 'ETHUSDT', 'BNBUSDT', 'SOLUSDT', 'XRPUSDT', 'ADAUSDT', 'DOGEUSDT'];
export const DEFAULT_INTERVALS = ['1m', '5m', '15m', '1h', '4h', '1d'];

type Env = Record<string, string | undefined>;

function fail(variable: string, value: string | undefined, accepted: string): never {
  throw new ConfigError(value === undefined ? `${variable} is not set: expected ${accepted}` : `${variable}=${JSON.stringify(value)} is invalid: expected ${accepted}`, {
    info: { variable, value, accepted },
  });
}

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    fail(name, raw, `an integer from ${min} to ${max}`);
  }
  return n;
}

function fraction(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!/^\d*\.?\d+$/.test(raw.trim()) || !(n >= min && n <= max)) fail(name, raw, `a number from ${min} to ${max}`);
  return n;
}

function list(env: Env, name: string, def: string[]): string[] {
  const raw = env[name];
  // Unset or empty means the default; blanks alone are a mistake, not a request for the defaults.
  if (raw === undefined || raw === '') return def;
  const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) fail(name, raw, 'a comma-separated list (unset it for the defaults)');
  return [...new Set(items)];
}

function url(env: Env, name: string, def: string, protocols: string[]): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  try {
    const u = new URL(raw);
    if (!protocols.includes(u.protocol)) throw new Error('protocol');
    return raw.replace(/\/+$/, '');
  } catch {
    return fail(name, withoutPassword(raw), `a URL with protocol ${protocols.join(' or ')}`);
  }
}

/**
 * An exchange URL as its origin: the engine adds `/api/v3/…` and `/stream` itself. Given with a path
 * (Binance's docs name `…/api` and `…/ws` endpoints), requests went to `/api/api/v3/…` and `/ws/stream`,
 * and `SOURCE=auto` fell back to the simulator (a review).
 */
function origin(env: Env, name: string, value: string, example: string): string {
  const path = new URL(value).pathname;
  if (path !== '/' && path !== '') fail(name, withoutPassword(value), `the exchange's origin, without a path (e.g. ${example}): the engine adds /api/v3/… and /stream itself`);
  return value;
}

/** A URL as it may be shown: the password replaced (messages and logs must not carry it). */
export function withoutPassword(raw: string): string {
  return raw.replace(/(\/\/[^/@:]*:)[^@/]*@/, '$1***@');
}

function redisUrl(env: Env): string | undefined {
  if (!env.REDIS_URL) return undefined;
  const u = url(env, 'REDIS_URL', '', ['redis:', 'rediss:']);
  // The path is the database index; whether the server has that many databases is checked at start.
  const parsed = new URL(u);
  if (!/^\/?\d{0,5}$/.test(parsed.pathname)) fail('REDIS_URL', withoutPassword(env.REDIS_URL), 'redis://[user:password@]host:port[/db] with a numeric database index');
  // ioredis decodes them (a stray % would end the start with a URIError and a stack trace).
  try {
    decodeURIComponent(parsed.username);
    decodeURIComponent(parsed.password);
  } catch {
    fail('REDIS_URL', withoutPassword(env.REDIS_URL), 'a user and password percent-encoded where needed (a % written as %25)');
  }
  return u;
}

/** A browser origin (`scheme://host[:port]`, no path) or '*'. */
function proxies(env: Env, name: string): string[] {
  const items = list(env, name, []);
  for (const a of items) if (a !== '*' && !isIP(a)) fail(name, env[name], `'*' or comma-separated IP addresses of proxies like 10.0.0.5 (bad: ${a})`);
  return items;
}

function origins(env: Env, name: string, def: string[]): string[] {
  const items = list(env, name, def);
  for (const o of items) {
    if (o === '*') continue;
    let ok = false;
    try {
      const u = new URL(o);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === o;
    } catch {
      /* not a URL */
    }
    if (!ok) fail(name, env[name], `'*' or comma-separated origins like https://app.example.com or http://localhost:3000 (bad: ${o})`);
  }
  return items;
}

/** An IP address or a host name to listen on. */
function host(env: Env): string {
  const raw = env.HOST;
  if (raw === undefined || raw === '') return '0.0.0.0';
  const h = raw.trim();
  const label = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;
  if (isIP(h) || (h.length <= 253 && h.split('.').every((l) => label.test(l)))) return h;
  return fail('HOST', raw, 'an IP address (0.0.0.0, 127.0.0.1, ::) or a host name such as localhost');
}

/**
 * SERIES_DIR: where derived-series modules are loaded from ('' for none). One that is named but is
 * no directory is refused: the engine started without a quant's series and said nothing (an
 * attacker-style probe); the default, `series`, may be absent.
 */
function seriesDir(env: Env): string {
  const dir = env.SERIES_DIR;
  if (dir === undefined) return 'series';
  if (dir === '') return '';
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    // Missing or unreadable: refused below.
  }
  if (!isDir) fail('SERIES_DIR', dir, "a directory of derived-series modules (or '' for none)");
  return dir;
}

/** Reads and validates the configuration; throws ConfigError naming the variable. */
export function loadConfig(env: Env = process.env): Config {
  const symbols = list(env, 'SYMBOLS', DEFAULT_SYMBOLS).map((s) => s.toUpperCase());
  if (symbols.includes(ALL_SYMBOLS) && symbols.length > 1) fail('SYMBOLS', env.SYMBOLS, "either '*' (every trading symbol) or a list of symbols, not both");
  for (const s of isUniverse(symbols) ? [] : symbols) if (!isValidSymbol(s)) fail('SYMBOLS', env.SYMBOLS, `symbols of 2-20 upper-case letters, digits, '-', '_' or '.' such as BTCUSDT (bad: ${s})`);
  const intervals = list(env, 'INTERVALS', DEFAULT_INTERVALS);
  for (const i of intervals) {
    try {
      parseInterval(i);
    } catch {
      fail('INTERVALS', env.INTERVALS, `intervals like 1s,1m,3m,5m,15m,30m,1h,2h,4h,6h,8h,12h,1d,3d,1w,1M (bad: ${i})`);
    }
  }
  const source = (env.SOURCE ?? 'auto').trim() || 'auto';
  if (!['auto', 'binance', 'sim', 'replay'].includes(source)) fail('SOURCE', env.SOURCE, 'auto, binance, sim or replay');
  if (source === 'replay' && !env.REPLAY_FILE) fail('REPLAY_FILE', env.REPLAY_FILE, 'the path of a recording when SOURCE=replay');
  // Set with another source it was ignored: the engine served live data to someone who asked for a replay.
  if (source !== 'replay' && env.REPLAY_FILE) fail('REPLAY_FILE', env.REPLAY_FILE, `to be set only with SOURCE=replay (SOURCE=${source} plays no recording)`);
  // Empty is the default, as for every other variable.
  const rawSpeed = env.REPLAY_SPEED || '1';
  const replaySpeed = rawSpeed === 'max' ? 'max' : Number(rawSpeed);
  if (replaySpeed !== 'max' && !(Number.isFinite(replaySpeed) && replaySpeed > 0 && replaySpeed <= 1e6)) fail('REPLAY_SPEED', rawSpeed, "a positive number (1 = real time) or 'max'");
  const bufferSize = int(env, 'BUFFER_SIZE', 1000, 10, 1_000_000);
  const historyOnConnect = int(env, 'HISTORY_ON_CONNECT', 720, 1, 1_000_000);
  if (historyOnConnect > bufferSize) fail('HISTORY_ON_CONNECT', env.HISTORY_ON_CONNECT, `at most BUFFER_SIZE (${bufferSize})`);
  // Empty is the default, as for every other variable (`LOG_LEVEL=` in a compose file).
  const logLevel = (env.LOG_LEVEL || 'info') as Config['logLevel'];
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) fail('LOG_LEVEL', env.LOG_LEVEL, 'debug, info, warn or error');
  const redis = redisUrl(env);
  const role = (env.ROLE ?? '').trim() || 'all';
  if (!['all', 'ingest', 'edge'].includes(role)) fail('ROLE', env.ROLE, 'all (one process), ingest or edge');
  if (role !== 'all' && !redis) fail('REDIS_URL', env.REDIS_URL, `a redis:// URL: ROLE=${role} nodes share their series through Redis`);
  // A replay keeps Redis keys of its own (replay-key-prefix.ts); a cluster's nodes share the cluster's: an
  // ingest node would take the lead of a live cluster on that Redis and write into it, an edge would serve
  // the live cluster's series as a replay's (it plays no recording itself).
  if (role !== 'all' && source === 'replay') fail('SOURCE', env.SOURCE, `auto, binance or sim with ROLE=${role} (a replay runs as ROLE=all: it keeps Redis keys of its own, and a cluster's nodes share theirs)`);
  const nodeId = (env.NODE_ID ?? '').trim() || defaultNodeId(hostname(), process.pid);
  if (nodeId.length > MAX_NODE_ID || !/^[\w.-]+$/.test(nodeId)) fail('NODE_ID', env.NODE_ID, `1-${MAX_NODE_ID} letters, digits, _, . or -`);
  return {
    port: int(env, 'PORT', 8000, 0, 65535),
    host: host(env),
    symbols,
    intervals,
    bufferSize,
    historyOnConnect,
    redisUrl: redis,
    redisCommandTimeoutMs: int(env, 'REDIS_COMMAND_TIMEOUT_MS', 2000, 100, 60_000),
    restUrl: origin(env, 'BINANCE_REST_URL', url(env, 'BINANCE_REST_URL', 'https://api.binance.com', ['http:', 'https:']), 'https://testnet.binance.vision'),
    wsUrl: origin(env, 'BINANCE_WS_URL', url(env, 'BINANCE_WS_URL', 'wss://stream.binance.com:9443', ['ws:', 'wss:']), 'wss://stream.testnet.binance.vision'),
    source: source as SourceKind,
    restWeightBudget: int(env, 'REST_WEIGHT_BUDGET', 3000, 10, 6000),
    restConcurrency: int(env, 'REST_CONCURRENCY', 4, 1, 64),
    clientHistoryPerMinute: int(env, 'CLIENT_HISTORY_PER_MIN', 60, 1, 100_000),
    clientHistoryQueue: int(env, 'CLIENT_HISTORY_QUEUE', 16, 1, 10_000),
    staleAfterMs: int(env, 'STALE_AFTER_MS', 30_000, 1000, 3_600_000),
    rotateAfterMs: int(env, 'ROTATE_AFTER_MS', 23 * 3_600_000, 10_000, 24 * 3_600_000 - 60_000),
    maxBackpressureBytes: int(env, 'MAX_BACKPRESSURE_BYTES', 1024 * 1024, 16 * 1024, 256 * 1024 * 1024),
    maxBufferedTotalBytes: int(env, 'MAX_BUFFERED_TOTAL_BYTES', 256 * 1024 * 1024, 16 * 1024 * 1024, 64 * 1024 * 1024 * 1024),
    clientDir: env.CLIENT_DIR ?? 'dist/client',
    seriesDir: seriesDir(env),
    recordFile: env.RECORD_FILE || undefined,
    replayFile: env.REPLAY_FILE || undefined,
    replaySpeed,
    logLevel,
    idleSeriesMs: int(env, 'IDLE_SERIES_MS', 600_000, 1000, 7 * 24 * 3_600_000),
    gapRepairAfterMs: int(env, 'GAP_REPAIR_AFTER_MS', 30_000, 1000, 3_600_000),
    gapFillDeadlineMs: int(env, 'GAP_FILL_DEADLINE_MS', 15_000, 1000, 600_000),
    maxOnDemandSeries: int(env, 'MAX_ON_DEMAND_SERIES', 2000, 0, 100_000),
    onDemandPerMinute: int(env, 'ON_DEMAND_PER_MIN', 120, 1, 1_000_000),
    // Each held instance costs a node about 0.5 MB (an attacker-style probe: 1,950 took ROLE=all from 145 MB to
    // 1,069 MB and a leader to 1.7 GB, which lost its lease on a busy host); raise it with the memory to match.
    maxSeriesInstances: int(env, 'MAX_SERIES_INSTANCES', 500, 1, 100_000),
    // A replay runs as fast as asked (REPLAY_SPEED=max: all of the time, series too) and its series must equal the live run's: none stopped unless asked.
    seriesLiveShare: fraction(env, 'SERIES_LIVE_SHARE', source === 'replay' ? 1 : 0.25, 0.01, 1),
    streamsPerConnection: int(env, 'STREAMS_PER_CONNECTION', 1024, 1, 1024),
    resumeUpdates: int(env, 'RESUME_HISTORY_UPDATES', 1000, 1, 1_000_000),
    resumeMaxAgeMs: int(env, 'RESUME_HISTORY_MS', 600_000, 1000, 86_400_000),
    resumeTotalUpdates: int(env, 'RESUME_HISTORY_TOTAL', 250_000, 1, 100_000_000),
    role: role as Config['role'],
    nodeId,
    leaseTtlMs: int(env, 'LEASE_TTL_MS', 3000, 300, 60_000),
    upstreamHandoverMs: int(env, 'UPSTREAM_HANDOVER_MS', 15_000, 1000, 3_600_000),
    // Once the node leads, what it held goes with its next event (or when due): this bounds only how far a standby's windows trail.
    standbyLagMs: int(env, 'STANDBY_LAG_MS', 100, 0, 1000),
    corsOrigins: origins(env, 'CORS_ORIGINS', ['*']),
    trustProxy: proxies(env, 'TRUST_PROXY'),
    allowedOrigins: origins(env, 'ALLOWED_ORIGINS', []),
    maxConnectionsPerAddress: int(env, 'MAX_CONNECTIONS_PER_ADDRESS', 256, 0, 1_000_000),
    maxClients: int(env, 'MAX_CLIENTS', 5000, 0, 1_000_000),
    maxConnectsPerSecond: int(env, 'MAX_CONNECTS_PER_SECOND', 500, 0, 1_000_000),
    httpRequestsPerSecond: int(env, 'HTTP_REQUESTS_PER_SECOND', 20, 0, 1_000_000),
    pingTimeoutMs: int(env, 'PING_TIMEOUT_MS', 60_000, 1000, 3_600_000),
    stuckMs: int(env, 'SEND_STUCK_MS', 10_000, 1000, 3_600_000),
    notReadingHoldMs: int(env, 'NOT_READING_HOLD_MS', 300_000, 0, 3_600_000),
  };
}
