/**
 * Probe (not a bench scenario): how long an attacker-style load holds the engine's event loop, read
 * from the engine's own /metrics (`engine_event_loop_delay_max_seconds`, `engine_event_loop_stalls_total`),
 * not from a client's latency (which mixes in the host's CPU contention, the probe's own clients among it).
 * The engine and the simulator run as `npm start` runs them (ROLE=all, env-configured), behind a
 * trusted proxy so each client names its address in X-Forwarded-For.
 *
 *   SCENARIO=burst npx tsx bench/probes/stall-probe.ts   N sockets at once from one address, each asking
 *                                                        for 15 derived series (N=256; SERIES=0: none)
 *   SCENARIO=hold  npx tsx bench/probes/stall-probe.ts   ADDRS × PER sockets on BTCUSDT 1m (64 × 250),
 *                                                        held SECONDS (60), the loop read every 5 s
 *                                                        with the main thread's run-queue wait in those 5 s
 *
 * The variables in ENGINE_VARS go to the engine (e.g. MAX_CLIENTS=0). Prints one JSON line. Keep the machine quiet.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

// ENGINE_ROOT: another checkout's engine and simulator (an A/B run; it needs the loop-delay metrics).
const ROOT = process.env.ENGINE_ROOT ?? fileURLToPath(new URL('../..', import.meta.url));
const SCENARIO = process.env.SCENARIO ?? 'burst';
const ENGINE_VARS = ['MAX_CLIENTS', 'MAX_CONNECTS_PER_SECOND', 'MAX_CONNECTIONS_PER_ADDRESS', 'PING_TIMEOUT_MS'];
/** 15 labels one address may hold on one series: each definition's default and 4 variants (MAX_VARIANTS_PER_ADDRESS). */
const SPECS = [
  'ema-cross', 'ema-cross:fast=5;slow=13', 'ema-cross:fast=12;slow=26', 'ema-cross:fast=20;slow=50', 'ema-cross:fast=50;slow=200',
  'rsi', 'rsi:period=7', 'rsi:period=21', 'rsi:period=28', 'rsi:period=50',
  'session-vwap', 'session-vwap:anchor=1h', 'session-vwap:anchor=4h', 'session-vwap:anchor=8h', 'session-vwap:anchor=1w',
];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

function start(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'], detached: true });
}

async function until(ok: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** The engine's loop figures over the last 5 s (the max; read every 5 s) and in all (the stalls). */
async function loop(base: string): Promise<{ maxMs: number; stalls: number; waitS: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const value = (name: string) => Number(/^(\S+) (\S+)$/m.exec(text.split('\n').find((l) => l.startsWith(`${name} `)) ?? '')?.[2] ?? NaN);
  // An older checkout (ENGINE_ROOT) has one max, since the previous scrape.
  const windowed = value('engine_event_loop_delay_max_seconds{window="5s"}');
  const max = Number.isNaN(windowed) ? value('engine_event_loop_delay_max_seconds') : windowed;
  // The main thread's time waiting for a CPU (NaN on an older checkout): a stall beside a growing wait is the host's contention.
  return { maxMs: Math.round(max * 1000), stalls: value('engine_event_loop_stalls_total'), waitS: value('engine_main_thread_runqueue_wait_seconds_total') };
}

/** Opens a socket and settles with how its first answer went (its first message's type, or the upgrade's status). */
function connect(url: string, address: string, sockets: WebSocket[]): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: { 'x-forwarded-for': address }, perMessageDeflate: false });
    sockets.push(ws);
    ws.once('message', (d: Buffer) => {
      const m = JSON.parse(d.toString()) as { type: string; code?: string };
      resolve(m.code ? `${m.type}:${m.code}` : m.type);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(`http ${res.statusCode}`);
    });
    ws.once('error', () => resolve('error'));
    ws.once('close', () => resolve('closed'));
  });
}

const count = (outcomes: string[]) => outcomes.reduce<Record<string, number>>((acc, o) => ((acc[o] = (acc[o] ?? 0) + 1), acc), {});

const simPort = await freePort();
const port = await freePort();
const engineEnv = Object.fromEntries(ENGINE_VARS.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]!]));
const sim = start(['engine/sim/main.ts'], { SIM_PORT: String(simPort), SIM_HOST: '127.0.0.1' });
const base = `http://127.0.0.1:${port}`;
let engine: ChildProcess | undefined;
const sockets: WebSocket[] = [];
try {
  await until(async () => (await fetch(`http://127.0.0.1:${simPort}/api/v3/time`)).ok, 30_000, 'the simulator');
  engine = start(['engine/src/main.ts'], {
    ROLE: 'all', PORT: String(port), HOST: '127.0.0.1', SOURCE: 'binance', SYMBOLS: 'BTCUSDT,ETHUSDT', INTERVALS: '1m', LOG_LEVEL: 'warn', TRUST_PROXY: '127.0.0.1',
    BINANCE_REST_URL: `http://127.0.0.1:${simPort}`, BINANCE_WS_URL: `ws://127.0.0.1:${simPort}`, ...engineEnv,
  });
  await until(async () => (await fetch(`${base}/readyz`)).ok, 90_000, 'the engine');
  await sleep(3000);
  await loop(base);
  let result: Record<string, unknown>;
  if (SCENARIO === 'burst') {
    const n = Number(process.env.N ?? 256);
    const series = process.env.SERIES === '0' ? '' : `&series=${encodeURIComponent(SPECS.join(','))}`;
    const t0 = performance.now();
    const outcomes = await Promise.all(Array.from({ length: n }, () => connect(`ws://127.0.0.1:${port}/ws/BTCUSDT?interval=1m${series}`, '203.0.113.9', sockets)));
    const settledMs = Math.round(performance.now() - t0);
    await sleep(1000);
    result = { scenario: 'burst', sockets: n, series: series ? SPECS.length : 0, outcomes: count(outcomes), settledMs, loop: await loop(base) };
  } else {
    const [addrs, per, seconds] = [Number(process.env.ADDRS ?? 64), Number(process.env.PER ?? 250), Number(process.env.SECONDS ?? 60)];
    const outcomes: string[] = [];
    for (let a = 0; a < addrs; a++) outcomes.push(...(await Promise.all(Array.from({ length: per }, () => connect(`ws://127.0.0.1:${port}/ws/BTCUSDT?interval=1m`, `14.0.${a >> 8}.${a & 255}`, sockets)))));
    const reads: number[] = [];
    const waits: number[] = [];
    let waited = (await loop(base)).waitS;
    for (let t = 0; t < seconds; t += 5) {
      await sleep(5000);
      const l = await loop(base);
      reads.push(l.maxMs);
      waits.push(Math.round((l.waitS - waited) * 1000));
      waited = l.waitS;
    }
    const { stalls } = await loop(base);
    result = { scenario: 'hold', sockets: addrs * per, outcomes: count(outcomes), seconds, loopMaxMsEvery5s: reads, runQueueWaitMsEvery5s: waits, stalls };
  }
  console.log(JSON.stringify({ ...result, engineEnv }));
} finally {
  for (const ws of sockets) ws.terminate();
  for (const p of [engine, sim]) if (p?.pid) try { process.kill(-p.pid, 'SIGTERM'); } catch { /* gone */ }
}
