/**
 * Every variable the engine's entry points read (engine/src/config/config.ts, engine/sim/sim-env.ts,
 * engine/cli/series-batch.ts) and REDIS_KEY_PREFIX. A child inherited them from the shell: with
 * REDIS_URL=redis://…/0 set there, shutdown.int.spec.ts wrote its candles into that database.
 * spec/helpers/child-env.spec.ts checks this list against those files.
 */
const ENGINE_VARIABLES = [
  // engine/src/config/config.ts
  'PORT', 'HOST', 'SYMBOLS', 'INTERVALS', 'BUFFER_SIZE', 'HISTORY_ON_CONNECT', 'REDIS_URL', 'REDIS_COMMAND_TIMEOUT_MS',
  'BINANCE_REST_URL', 'BINANCE_WS_URL', 'SOURCE', 'REST_WEIGHT_BUDGET', 'REST_CONCURRENCY', 'CLIENT_HISTORY_PER_MIN',
  'CLIENT_HISTORY_QUEUE', 'STALE_AFTER_MS', 'ROTATE_AFTER_MS', 'MAX_BACKPRESSURE_BYTES', 'MAX_BUFFERED_TOTAL_BYTES',
  'CLIENT_DIR', 'SERIES_DIR', 'RECORD_FILE', 'REPLAY_FILE', 'REPLAY_SPEED', 'LOG_LEVEL', 'IDLE_SERIES_MS',
  'GAP_REPAIR_AFTER_MS', 'GAP_FILL_DEADLINE_MS', 'MAX_ON_DEMAND_SERIES', 'ON_DEMAND_PER_MIN', 'MAX_SERIES_INSTANCES', 'SERIES_LIVE_SHARE',
  'STREAMS_PER_CONNECTION', 'RESUME_HISTORY_UPDATES', 'RESUME_HISTORY_MS', 'RESUME_HISTORY_TOTAL', 'ROLE', 'NODE_ID',
  'LEASE_TTL_MS', 'UPSTREAM_HANDOVER_MS', 'STANDBY_LAG_MS', 'CORS_ORIGINS', 'TRUST_PROXY', 'ALLOWED_ORIGINS', 'MAX_CONNECTIONS_PER_ADDRESS',
  'MAX_CLIENTS', 'MAX_CONNECTS_PER_SECOND', 'HTTP_REQUESTS_PER_SECOND', 'PING_TIMEOUT_MS', 'SEND_STUCK_MS', 'NOT_READING_HOLD_MS',
  // engine/sim/sim-env.ts (`npm run sim`)
  'SIM_PORT', 'SIM_HOST', 'SIM_SEED', 'SIM_SPEED', 'SIM_PUSH_MS', 'SIM_START', 'SIM_UNIVERSE', 'SIM_SYMBOLS',
  // engine/src/dev.ts; a key prefix some shells carry for other tools
  'ENGINE_URL', 'REDIS_KEY_PREFIX',
];

/**
 * The environment for a child process a spec starts (an engine, the simulator, a CLI, compose):
 * the test runner's own, without any engine variable, then `set`. Each spawn names what it needs.
 */
export function childEnv(set: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ENGINE_VARIABLES) delete env[name];
  for (const [name, value] of Object.entries(set)) if (value !== undefined) env[name] = value;
  return env;
}
