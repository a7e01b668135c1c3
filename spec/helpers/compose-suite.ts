import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Candle, ClusterClient, expectContiguous, expectExactlyMissed, expectTrueCandles, liveAfter } from './cluster-client.ts';
import type { EngineNode } from './cluster-nodes.ts';
import type { ComposeService } from './compose-topology.ts';

/** docker-compose.yml's topology running, however it was started (child processes, Docker). */
export interface Topology {
  readonly services: Map<string, ComposeService>;
  readonly nodes: Map<string, EngineNode>;
  /** The load balancer, as browsers reach it. */
  readonly ws: string;
  /** The simulated exchange's REST. */
  readonly simUrl: string;
  node(name: string): EngineNode;
  role(role: 'ingest' | 'edge'): EngineNode[];
  /** What HAProxy printed (server state changes: `Server edges/edge-1 is DOWN, reason: …`). */
  lbLog(): string;
  stop(): Promise<void>;
}

export interface TopologyStart {
  /** The shell's variables compose interpolates (`SYMBOLS`, `INTERVALS`, …). */
  vars: Record<string, string>;
  /** Per service, variables added on top of the compose file's (the test's only knobs, e.g. the simulator's pace). */
  extraEnv: Record<string, Record<string, string>>;
}

const CLIENTS = 20;

/** What a suite's further tests (`more`, after the shared ones) reach: the topology and its clients. */
export interface SuiteContext<T extends Topology> {
  topo(): T;
  /** The suite's clients, live through the balancer since the start. */
  readonly clients: readonly ClusterClient[];
}

/**
 * The compose topology's checks, for a describe block: clients connect through HAProxy only, as
 * browsers would; every service runs with what the file gives it; an edge's loss, then the leader's,
 * is survived with no hole, no duplicate and the same epoch.
 */
export function composeTopologySuite<T extends Topology>(
  start: (o: TopologyStart) => Promise<T>,
  { startTimeoutMs = 180_000, more }: { startTimeoutMs?: number; more?: (ctx: SuiteContext<T>) => void } = {},
): void {
  let topo: T;
  const clients: ClusterClient[] = [];
  /** Closed 1m candles as the simulator's REST answers them (what the ingest nodes also read). */
  const truth = async (from: number, to: number): Promise<Candle[]> => {
    const out: Candle[] = [];
    for (let start = from; start <= to; ) {
      const res = await request(`${topo.simUrl}/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=${start}&endTime=${to}&limit=1000`);
      const rows = (await res.body.json()) as Array<[number, string, string, string, string, string]>;
      if (!rows.length) break;
      for (const [time, open, high, low, close, volume] of rows) out.push({ time, open: Number(open), high: Number(high), low: Number(low), close: Number(close), volume: Number(volume), is_closed: true });
      start = rows[rows.length - 1]![0] + 1;
    }
    return out;
  };
  const connected = async () => Promise.all(topo.role('edge').map(async (e) => (e.exited ? 0 : ((await e.metric('engine_clients_connected')) ?? 0))));
  const leaders = async () => {
    const out = [];
    for (const n of topo.role('ingest')) if (!n.exited && (await n.health())?.leader === true) out.push(n);
    return out;
  };

  beforeAll(async () => {
    topo = await start({
      // Variables a user sets in the shell for `docker compose up` (the file interpolates them).
      vars: { SYMBOLS: 'BTCUSDT,ETHUSDT', INTERVALS: '1m' },
      // The exchange's pace: a simulated minute per real second, updates every 100 ms.
      extraEnv: { sim: { SIM_SPEED: '60', SIM_PUSH_MS: '100' } },
    });
    for (let i = 0; i < CLIENTS; i++) clients.push(new ClusterClient(() => [topo.ws], '/ws/BTCUSDT?interval=1m'));
    await liveAfter(clients, 5, 30_000);
  }, startTimeoutMs);

  afterAll(async () => {
    for (const c of clients) c.close();
    await topo?.stop();
  }, 60_000);

  it('runs every service of the file with the environment it gives; one ingest node leads; haproxy spreads the clients over both edges', async () => {
    expect([...topo.nodes.keys()].sort()).toEqual(['edge-1', 'edge-2', 'ingest-1', 'ingest-2']);
    expect(topo.services.get('redis')!.command).toContain('--appendonly');
    const h = await topo.node('edge-1').readHealth();
    expect(h).toMatchObject({ role: 'edge', node: 'edge-1', status: 'ok' });
    expect((await topo.node('ingest-2').readHealth()).role).toBe('ingest');
    expect(await leaders()).toHaveLength(1);
    const counts = await connected();
    expect(counts.reduce((a, b) => a + b, 0)).toBe(CLIENTS);
    // leastconn: the sockets are spread evenly.
    for (const n of counts) expect(n).toBe(CLIENTS / 2);
    // The whole snapshot (HISTORY_ON_CONNECT, 720 by default): the leader wrote the history it
    // bootstrapped into Redis, not only the bars since it started.
    for (const c of clients) {
      const first = c.messages.find((m) => m.offset !== undefined)!;
      expect(first.type).toBe('historical');
      expect(first.data).toHaveLength(720);
    }
  });

  it('SIGKILL an edge: its clients reconnect through haproxy to the other edge and resume with recovered and exactly the missed updates', async () => {
    const [victim, survivor] = topo.role('edge');
    const onVictim = await victim!.readMetric('engine_clients_connected');
    expect(onVictim).toBeGreaterThan(0);
    victim!.signal('SIGKILL');
    await liveAfter(clients, 10, 30_000);
    const moved = clients.filter((c) => c.reconnects > 0);
    const stayed = clients.filter((c) => c.reconnects === 0);
    expect(moved).toHaveLength(onVictim);
    expect(await survivor!.readMetric('engine_clients_connected')).toBe(CLIENTS);
    // HAProxy's health checks saw it: the killed edge is DOWN, the other never was.
    await expect.poll(() => topo.lbLog(), { timeout: 10_000 }).toMatch(new RegExp(`edges/${victim!.name} is DOWN`));
    expect(topo.lbLog()).not.toMatch(new RegExp(`edges/${survivor!.name} is DOWN`));
    for (const c of moved) {
      expect(c.messages.filter((m) => m.type === 'historical'), 'no new snapshot').toHaveLength(1);
      expect(c.messages.some((m) => m.type === 'recovered')).toBe(true);
      expectContiguous(c);
      expectExactlyMissed(c, stayed[0]!);
      await expectTrueCandles(c, truth);
    }
  }, 60_000);

  it('SIGKILL the leader: the standby leads; clients see no hole, no duplicate, the same epoch', async () => {
    const [old] = await leaders();
    expect(old).toBeDefined();
    const epoch = clients[0]!.epoch;
    const reconnects = clients.map((c) => c.reconnects);
    old!.signal('SIGKILL');
    const standby = topo.role('ingest').find((n) => n !== old)!;
    await standby.until((h) => h.leader === true, 15_000, 'the standby leads');
    await liveAfter(clients, 10, 30_000);
    for (const e of topo.role('edge').filter((n) => !n.exited)) expect(topo.lbLog()).not.toMatch(new RegExp(`edges/${e.name} is DOWN`));
    for (const [i, c] of clients.entries()) {
      expect(c.reconnects).toBe(reconnects[i]);
      expect(c.epoch).toBe(epoch);
      expectContiguous(c);
      await expectTrueCandles(c, truth);
    }
  }, 60_000);

  more?.({ topo: () => topo, clients });
}
