import { isIP } from 'node:net';
import type { Redis } from 'ioredis';
import { IPV6_BLOCK_SHARE, pooledBlock } from '../server/address-rate-limit.ts';
import { answerWithin } from './answer-within.ts';
import { CONNECTIONS_SET_LUA, VARIANTS_SET_LUA } from './cluster-scripts.ts';

type WithConnections = Redis & {
  clusterConnectionsSet(key: string, node: string, count: number, limit: number, alivePrefix: string, staleMs: number, hashTtlMs: number): Promise<number>;
  clusterVariantsSet(key: string, node: string, limit: number, alivePrefix: string, staleMs: number, hashTtlMs: number, ...labelCounts: Array<string | number>): Promise<number>;
};

/** An edge's sockets from one address holding each label (a variant) of one definition on one series. */
export type VariantCounts = ReadonlyArray<readonly [label: string, count: number]>;

/** An edge whose heartbeat is older than this stops counting (it died); it beats at a third of it. */
const CONNECTIONS_STALE_MS = 15_000;

/** An address's hash lives this long after its last change; each edge renews the ones it counts at a quarter of it. */
const HASH_TTL_MS = 120_000;

export interface SharedConnectionsOptions {
  /** Prefix of each address's hash (`cluster:connections:`). */
  keyPrefix: string;
  /** Prefix of each edge's heartbeat key (`cluster:connections-alive:`). */
  alivePrefix: string;
  /** This edge's NODE_ID (its field in each address's hash). */
  node: string;
  /** MAX_CONNECTIONS_PER_ADDRESS, for the whole cluster. */
  limit: number;
  /** Prefix of each address's hash of derived-series variants held (+ address|series|definition): see VARIANTS_SET_LUA. */
  variantsPrefix?: string;
  /** MAX_VARIANTS_PER_ADDRESS, for the whole cluster (0 or absent: variants are not counted here). */
  variantsLimit?: number;
  /** instancesPerAddress, for the whole cluster (0 or absent: instances are not counted here); in the variants' hashes (+ address|instances). */
  instancesLimit?: number;
  staleMs?: number;
  /** How long `opened` waits for Redis's answer before it says the connection fits (the edge's own cap still holds). */
  timeoutMs?: number;
  onUnanswered?: () => void;
}

/**
 * MAX_CONNECTIONS_PER_ADDRESS for every edge at once: each edge keeps its own count per address in
 * Redis (CONNECTIONS_SET_LUA) and a new connection fits only if every live edge's together do. Behind a
 * load balancer spreading one address over N edges, each edge's own cap otherwise let it hold N times
 * as many. An edge's counts are absolute (set, never added), so a lost reply corrects itself at the
 * next change or renewal; an edge that dies stops counting when its heartbeat expires (`staleMs`).
 * Besides a call per open and close, each edge beats every staleMs / 3 and writes its counts again
 * every 30 s (one pipeline, a script call per address and /48 it holds sockets of). A Redis that
 * does not answer limits nothing here (the edge's own cap still does). An IPv6 address's /48 is
 * counted the same way against IPV6_BLOCK_SHARE times the limit, as on a node (AddressConnections):
 * else a /48 spread over N edges held N times its pool. Only addresses (validated IPs) and their
 * /48s (`2001:db8:7::/48`, pooledBlock's) name keys.
 *
 * The same for the parameter variants of a derived series an address holds (MAX_VARIANTS_PER_ADDRESS
 * per definition and series): through N edges an address could otherwise hold N times as many, and
 * take every variant place the leader keeps per series for everyone. And the instances an address
 * holds, every series together (instancesPerAddress): through N edges, N times its share of the pool.
 */
export class SharedConnections {
  private readonly redis: WithConnections;
  /** This edge's open connections per address (> 0): bounded by its connections. */
  private readonly counts = new Map<string, number>();
  /** The same per IPv6 /48 (its addresses' in `counts` together): bounded likewise. */
  private readonly blocks = new Map<string, number>();
  /** What this edge last wrote in each variants hash (label and count > 0; rewritten at renewal, cleared at stop): bounded by its sockets' holds. */
  private readonly variants = new Map<string, VariantCounts>();
  private readonly staleMs: number;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly renewal: NodeJS.Timeout;
  private stopped = false;

  constructor(
    redis: Redis,
    private readonly o: SharedConnectionsOptions,
  ) {
    if (!(o.limit >= 1)) throw new TypeError(`SharedConnections: limit must be >= 1, got ${o.limit}`);
    if ((o.variantsLimit || o.instancesLimit) && !o.variantsPrefix) throw new TypeError('SharedConnections: variantsLimit and instancesLimit need variantsPrefix');
    this.redis = redis as WithConnections;
    if (typeof this.redis.clusterConnectionsSet !== 'function') redis.defineCommand('clusterConnectionsSet', { numberOfKeys: 1, lua: CONNECTIONS_SET_LUA });
    if (typeof this.redis.clusterVariantsSet !== 'function') redis.defineCommand('clusterVariantsSet', { numberOfKeys: 1, lua: VARIANTS_SET_LUA });
    this.staleMs = o.staleMs ?? CONNECTIONS_STALE_MS;
    this.heartbeat = setInterval(() => this.beat(), Math.max(50, Math.floor(this.staleMs / 3)));
    this.heartbeat.unref();
    this.renewal = setInterval(() => this.renew(), HASH_TTL_MS / 4);
    this.renewal.unref();
    this.beat();
  }

  /**
   * `count`: this edge's connections from `address` with the new one. True if the cluster's fit the
   * limit (this edge's count is then recorded), false if not (the caller closes the new one, served
   * meanwhile, and calls `closed`). A Redis that does not answer within `timeoutMs` says it fits.
   */
  async opened(address: string, count: number): Promise<boolean> {
    if (this.stopped || isIP(address) === 0) return true;
    // Counted here at once, as on the edge itself: a close meanwhile sets the count after it.
    const block = this.setCount(address, count);
    // The address's count, then (if it fits) its /48's, read then (a close meanwhile is in it). Refused
    // by the /48, the address's is written: the caller's `closed` puts both right.
    const fits = async () => {
      const own = Number(await this.call(address, count, this.o.limit));
      return own !== 1 || block === undefined ? own : Number(await this.call(block, this.blocks.get(block) ?? 0, this.o.limit * IPV6_BLOCK_SHARE));
    };
    return (await answerWithin(fits, this.o.timeoutMs ?? 2000, 1, this.o.onUnanswered)) === 1;
  }

  /** `count`: this edge's connections from `address` now that one closed. */
  closed(address: string, count: number): void {
    if (this.stopped || isIP(address) === 0) return;
    const block = this.setCount(address, count);
    this.call(address, count, 0).catch(() => undefined);
    if (block !== undefined) this.call(block, this.blocks.get(block) ?? 0, 0).catch(() => undefined);
  }

  /** Sets this edge's count for `address` and its /48's (returned: undefined when it has none). */
  private setCount(address: string, count: number): string | undefined {
    const block = pooledBlock(address);
    if (block !== undefined) {
      const n = (this.blocks.get(block) ?? 0) + count - (this.counts.get(address) ?? 0);
      if (n > 0) this.blocks.set(block, n);
      else this.blocks.delete(block);
    }
    if (count > 0) this.counts.set(address, count);
    else this.counts.delete(address);
    return block;
  }

  /**
   * `held`: every label of `def` on `series` this edge's sockets from `address` hold, with how many
   * sockets, a new socket's included. True if the distinct labels every live edge holds there, with
   * these, fit the variants limit (they are then this edge's in Redis), false if not (the caller
   * refuses the socket and, at its close, calls `variantsReleased`). A Redis that does not answer
   * within `timeoutMs` says they fit.
   */
  async variantsTaken(address: string, series: string, def: string, held: VariantCounts): Promise<boolean> {
    return this.labelsTaken(address, () => this.variantsKey(address, series, def), held, this.o.variantsLimit);
  }

  /** `held`: the same once a socket let go of its labels (empty: this edge's sockets hold none there now). */
  variantsReleased(address: string, series: string, def: string, held: VariantCounts): void {
    this.labelsReleased(address, () => this.variantsKey(address, series, def), held, this.o.variantsLimit);
  }

  /** `held`: every instance (its label) this edge's sockets from `address` hold, with how many sockets, a new socket's included; as variantsTaken. */
  instancesTaken(address: string, held: VariantCounts): Promise<boolean> {
    return this.labelsTaken(address, () => this.instancesKey(address), held, this.o.instancesLimit);
  }

  /** `held`: the same once a socket let go of its instances. */
  instancesReleased(address: string, held: VariantCounts): void {
    this.labelsReleased(address, () => this.instancesKey(address), held, this.o.instancesLimit);
  }

  /** Whether the distinct labels every live edge holds in one hash, with `held` as this edge's, fit `limit` (then recorded). */
  private async labelsTaken(address: string, key: () => string, held: VariantCounts, limit = 0): Promise<boolean> {
    if (this.stopped || limit <= 0 || isIP(address) === 0) return true;
    const fits = await answerWithin(() => this.setVariants(key(), held, limit), this.o.timeoutMs ?? 2000, 1, this.o.onUnanswered);
    return fits === 1;
  }

  private labelsReleased(address: string, key: () => string, held: VariantCounts, limit = 0): void {
    if (this.stopped || limit <= 0 || isIP(address) === 0) return;
    this.setVariants(key(), held, 0).catch(() => undefined);
  }

  private instancesKey(address: string): string {
    return `${this.o.variantsPrefix}${address}|instances`;
  }

  private variantsKey(address: string, series: string, def: string): string {
    return `${this.o.variantsPrefix}${address}|${series}|${def}`;
  }

  /** Replaces this edge's fields in one variants hash with `held` (kept here to be renewed). */
  private setVariants(key: string, held: VariantCounts, limit: number): Promise<number> {
    const entries = held.filter(([, n]) => n > 0);
    if (entries.length) this.variants.set(key, entries);
    else this.variants.delete(key);
    return this.redis.clusterVariantsSet(key, this.o.node, limit, this.o.alivePrefix, this.staleMs, HASH_TTL_MS, ...entries.flat()).then(Number);
  }

  /** Stops counting; this edge's counts leave Redis now (best effort: else they stop counting with its heartbeat). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.heartbeat);
    clearInterval(this.renewal);
    const p = this.redis.pipeline();
    for (const name of [...this.counts.keys(), ...this.blocks.keys()]) p.hdel(this.key(name), this.o.node);
    for (const [key, labels] of this.variants) p.hdel(key, ...labels.map(([l]) => `${this.o.node}|${l}`));
    p.del(this.o.alivePrefix + this.o.node);
    p.exec().catch(() => undefined);
    this.counts.clear();
    this.blocks.clear();
    this.variants.clear();
  }

  /** `name`: an address or a /48. */
  private call(name: string, count: number, limit: number): Promise<number> {
    return this.redis.clusterConnectionsSet(this.key(name), this.o.node, count, limit, this.o.alivePrefix, this.staleMs, HASH_TTL_MS);
  }

  private beat(): void {
    this.redis.set(this.o.alivePrefix + this.o.node, '1', 'PX', this.staleMs).catch(() => undefined);
  }

  /**
   * Writes this edge's counts and variants again (which keeps their hashes; the TTL only bounds what
   * dead edges leave): a lost close or release, or fields lost meanwhile (a Redis restarted empty, a
   * heartbeat that lapsed while Redis was slow and another edge removed them), are put right.
   */
  private renew(): void {
    if (this.counts.size === 0 && this.variants.size === 0) return;
    // One pipeline: one write for every address and hash, not one each.
    const p = this.redis.pipeline() as unknown as Pick<WithConnections, 'clusterConnectionsSet' | 'clusterVariantsSet'> & { exec(): Promise<unknown> };
    const { node, alivePrefix } = this.o;
    for (const [name, count] of [...this.counts, ...this.blocks]) void p.clusterConnectionsSet(this.key(name), node, count, 0, alivePrefix, this.staleMs, HASH_TTL_MS);
    for (const [key, held] of this.variants) void p.clusterVariantsSet(key, node, 0, alivePrefix, this.staleMs, HASH_TTL_MS, ...held.flat());
    p.exec().catch(() => undefined);
  }

  private key(name: string): string {
    return `${this.o.keyPrefix}${name}`;
  }
}
