import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBar } from '../../../engine/src/store/bar-member.ts';
import { type SimExchange, startSimExchange } from '../../../engine/sim/sim-exchange.ts';
import { childEnv } from '../../helpers/child-env.ts';
import { freePort, RedisProcess } from '../../helpers/redis-process.ts';
import { hasRedisServer } from '../../helpers/services.ts';
import { until } from '../../helpers/until.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

/** How late the proxy hands Redis's answers back: each store flush is unanswered this long. */
const REPLY_DELAY_MS = 300;

/**
 * A TCP proxy to Redis that delivers Redis's answers `delayMs` late (in order), as a slow link
 * does. The store flushes one batch at a time: while one waits for its answer, the bars that come
 * meanwhile stay pending in the engine, so some always are when the signal arrives.
 */
async function slowRepliesProxy(targetPort: number, delayMs: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const redis = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, redis]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (chunk) => redis.write(chunk));
    client.on('close', () => redis.end());
    redis.on('data', (chunk) => setTimeout(() => client.writable && client.write(chunk), delayMs));
    redis.on('close', () => setTimeout(() => client.destroy(), delayMs));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * README: "`Ctrl-C` stops it cleanly: pending store writes are flushed". `npm start`'s process
 * (engine/src/main.ts) on the simulator, storing in a redis-server of this spec's own behind a proxy
 * that answers late, gets SIGINT while writes are pending: it exits 0 and Redis holds the newest bar
 * it had (the last one its client was sent: a bar is in the store's window before it is published).
 */
const redisUp = await hasRedisServer('SIGINT flushes pending store writes (child process)');

describe.runIf(redisUp)('SIGINT with store writes pending', () => {
  let redis: RedisProcess;
  let proxy: Awaited<ReturnType<typeof slowRepliesProxy>>;
  let sim: SimExchange;
  let child: ChildProcess | undefined;
  let client: EngineClient | undefined;

  beforeAll(async () => {
    redis = await RedisProcess.start();
    proxy = await slowRepliesProxy(redis.port, REPLY_DELAY_MS);
    // A push every 20 ms: many bar updates per flush.
    sim = await startSimExchange({ symbols: ['BTCUSDT'], pushIntervalMs: 20, clockSpeed: 60 });
  });
  afterAll(async () => {
    client?.close();
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await sim?.close();
    await proxy?.close();
    await redis?.stop();
  });

  it('exits 0 and Redis holds the newest bar the engine had', async () => {
    const port = await freePort();
    const proc = spawn(process.execPath, ['--import', 'tsx', 'engine/src/main.ts'], {
      env: childEnv({
        SOURCE: 'binance',
        BINANCE_REST_URL: sim.restUrl,
        BINANCE_WS_URL: sim.wsUrl,
        SYMBOLS: 'BTCUSDT',
        INTERVALS: '1m',
        BUFFER_SIZE: '100',
        HISTORY_ON_CONNECT: '50',
        REDIS_URL: `redis://127.0.0.1:${proxy.port}/0`,
        PORT: String(port),
        HOST: '127.0.0.1',
        CLIENT_DIR: '',
        SERIES_DIR: '',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let log = '';
    proc.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    await until(() => log.includes('engine listening') || proc.exitCode !== null, 30_000, 'engine listening');
    expect(log).toMatch(/engine listening/);

    client = new EngineClient(`ws://127.0.0.1:${port}/ws/BTCUSDT?interval=1m`);
    await client.until((c) => c.historical() !== undefined && c.live().length >= 20, 20_000, 'historical and live candles');
    // The premise: the store has writes pending (it waits on the slow answers).
    const pending = async () => {
      const h = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { store: { kind: string; pendingWrites: number } };
      expect(h.store.kind).toBe('redis');
      return h.store.pendingWrites > 0;
    };
    await until(pending, 10_000, 'store writes pending');

    proc.kill('SIGINT');
    expect(await exited, log.slice(-2000)).toBe(0);
    await client.until((c) => c.closeCode !== undefined, 5000, 'close');
    expect(client.closeCode).toBe(1001);
    expect(log).toMatch(/engine stopped/);

    // Straight to Redis (not through the proxy): what it holds now the engine is gone.
    const newest = client.live().at(-1)!;
    const r = new Redis(`${redis.url}/0`);
    try {
      const members = await r.zrange('candles:BTCUSDT:1m', newest.time, newest.time, 'BYSCORE');
      expect(members.map(decodeBar)).toEqual([{ openTime: newest.time, open: newest.open, high: newest.high, low: newest.low, close: newest.close, volume: newest.volume, closed: newest.is_closed }]);
    } finally {
      r.disconnect();
    }
  }, 90_000);
});
