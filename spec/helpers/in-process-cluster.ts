import { Redis } from 'ioredis';
import { type EdgeNode, startEdge } from '../../engine/src/cluster/edge-node.ts';
import { type IngestNode, startIngest } from '../../engine/src/cluster/ingest-node.ts';
import type { Config } from '../../engine/src/config/config.ts';
import { silentLogger } from '../../engine/src/log.ts';
import type { SimOptions } from '../../engine/sim/sim-exchange.ts';
import { deletePrefix } from './redis-keys.ts';
import { REDIS_URL } from './services.ts';
import { EngineClient } from './ws-client.ts';

/** An ingest node (on the built-in simulator) and an edge in this process, on the real Redis's DB 15 under a key prefix of their own. */
export interface InProcessCluster {
  readonly ingest: IngestNode;
  readonly edge: EdgeNode;
  /** A connection to the test database (the suite's keys are under `prefix`). */
  readonly redis: Redis;
  readonly prefix: string;
  /** A client of the edge (closed by `stop`). */
  client(path: string): EngineClient;
  /** A client of any of the cluster's edges, from `forwardedFor` (X-Forwarded-For) if given (closed by `stop`). */
  clientAt(edge: { url: string }, path: string, forwardedFor?: string): EngineClient;
  /** Another edge on the same cluster, with a NODE_ID of its own (stopped by `stop`). */
  addEdge(overrides?: Partial<Config>): Promise<EdgeNode>;
  /** Resolves once the edge's /health says ok; throws with its reasons after `ms`. */
  edgeReady(ms?: number): Promise<void>;
  /** Closes the clients, stops both nodes and deletes the suite's keys. */
  stop(): Promise<void>;
}

/**
 * Both nodes get `common` (symbols, intervals, sizes); the ingest node also `ingest` (its simulator,
 * lease, catalog refresh). `beforeEdge` runs between the two (e.g. waiting for the leader's markets).
 */
export async function startInProcessCluster(o: {
  name: string;
  common: Partial<Config>;
  ingest: Partial<Config> & { simOptions: SimOptions; catalogRefreshMs?: number };
  beforeEdge?: (ingest: IngestNode, redis: Redis, prefix: string) => Promise<void>;
}): Promise<InProcessCluster> {
  const prefix = `spec-${o.name}-${process.pid}-${Date.now()}:`;
  const redis = new Redis(REDIS_URL);
  const common = { redisUrl: REDIS_URL, redisKeyPrefix: prefix, port: 0, host: '127.0.0.1', clientDir: '', seriesDir: '', log: silentLogger, ...o.common };
  const ingest = await startIngest({ ...common, source: 'sim', ...o.ingest });
  await ingest.app.ready;
  await o.beforeEdge?.(ingest, redis, prefix);
  const edge = await startEdge(common);
  const clients: EngineClient[] = [];
  const clientAt = (at: { url: string }, path: string, forwardedFor?: string) => {
    const c = new EngineClient(`${at.url.replace('http', 'ws')}${path}`, forwardedFor ? { headers: { 'x-forwarded-for': forwardedFor } } : undefined);
    clients.push(c);
    return c;
  };
  const more: EdgeNode[] = [];
  return {
    ingest,
    edge,
    redis,
    prefix,
    client: (path) => clientAt(edge, path),
    clientAt,
    async addEdge(overrides = {}) {
      // In one process the default NODE_ID (host and pid) would be the first edge's.
      const e = await startEdge({ ...common, nodeId: `${o.name}-edge-${more.length + 2}`, ...overrides });
      more.push(e);
      return e;
    },
    async edgeReady(ms = 30_000) {
      for (const deadline = Date.now() + ms; ; await new Promise((res) => setTimeout(res, 100))) {
        const h = (await (await fetch(`${edge.url}/health`)).json()) as { status: string; notReady: string[] };
        if (h.status === 'ok') return;
        if (Date.now() > deadline) throw new Error(`edge not ready: ${h.notReady.join('; ')}`);
      }
    },
    async stop() {
      for (const c of clients) c.close();
      for (const e of more) await e.stop();
      await edge.stop();
      await ingest.stop();
      await deletePrefix(redis, prefix);
      redis.disconnect();
    },
  };
}
