import { RetryBackoff } from './retry-backoff.ts';
import type { Redis } from 'ioredis';
import type { Subscription } from 'rxjs';
import type { SeriesId } from '../domain/series-id.ts';
import type { DemandOutcome, SeriesDemand } from '../pipeline/series-demand.ts';
import type { SeriesPoint } from '../series/define-series.ts';
import { SeriesBusyError } from '../series/series-errors.ts';
import type { SeriesInstance, SeriesLease, SeriesRegistry, SeriesRegistryDeps, SeriesRequest } from '../series/series-registry.ts';
import { type DemandKeys, instanceKeys, isValidInstanceLabel, leaseKeys, type SeriesKeys } from './cluster-keys.ts';
import { parseDemandMember } from './demand-member.ts';
import { type FencedWriter, RELEASED_INSTANCE_TTL_MS, type WriteResult } from './fenced-writer.ts';
import { LeaderDemand } from './leader-demand.ts';
import type { LeaderLease } from './leader-lease.ts';
import { leaderExpire, SeriesKeep } from './series-keep.ts';
import { TurnBudget } from '../domain/turn-budget.ts';
import { createLogDedup } from '../log-dedup.ts';

/** A write of the instance failed: its next seed writes the whole window. */
const FAILED = 'failed';

/** One derived-series instance as a member of the cluster's wanted set, read back and validated. */
export interface InstanceMember extends SeriesId {
  /** `label|SYMBOL:interval`. */
  readonly key: string;
  readonly label: string;
  /** The bar series it is computed on. */
  readonly bar: SeriesId;
  readonly request: SeriesRequest;
}

/**
 * Reads `label|SYMBOL:interval` back: undefined unless the bar series is valid and the label is one
 * the registry itself makes for a known series and valid parameters (so nothing else becomes a key).
 */
export function parseInstanceMember(member: string, registry: Pick<SeriesRegistry, 'parse'>): InstanceMember | undefined {
  if (member.length > 400) return undefined;
  const bar = member.lastIndexOf('|');
  const id = bar > 0 ? parseDemandMember(member.slice(bar + 1)) : undefined;
  const label = member.slice(0, Math.max(0, bar));
  if (!id || !isValidInstanceLabel(label)) return undefined;
  const parsed = registry.parse(label, id.interval);
  const request = parsed.ok && parsed.value.length === 1 ? parsed.value[0] : undefined;
  if (request?.label !== label) return undefined;
  return { symbol: id.symbol, interval: id.interval, key: member, label, bar: id, request };
}

export interface LeaderSeriesConfig {
  redis: Redis;
  /** A connection of its own for the nudge channel (may be shared with other demand). */
  subscriber: Redis;
  keys: DemandKeys;
  keyPrefix?: string;
  lease: LeaderLease;
  writer: FencedWriter;
  /** Points written per instance when the leader starts it (its window: edges read it as their snapshot). */
  bufferSize: number;
  /** An instance no edge touched for this long is let go (the registry frees it after its idle time). */
  staleMs: number;
  maxInstances: number;
  log?: (level: 'info' | 'warn', msg: string) => void;
}

interface Held {
  readonly member: InstanceMember;
  readonly keys: SeriesKeys;
  lease?: SeriesLease;
  /** Its window is in Redis: live points are written from now on. */
  seeded: boolean;
  released: boolean;
  rewrite?: NodeJS.Timeout;
  /**
   * Its next seed writes the window from this time on (the instance ran again: points it corrected
   * are older than the live ones written meanwhile, which would otherwise mark the log written up to
   * them); -Infinity: all of it.
   */
  rewriteFrom?: number;
}

/**
 * Derived series computed once in the cluster (ROLE=ingest): edges ask for an instance
 * (`label|SYMBOL:interval`) the way they ask for on-demand series (LeaderDemand: a wanted set,
 * touches, a nudge, an answer); the leader holds its bar series through the lifecycle and the
 * instance through the node's SeriesRegistry, writes its window and then every point it computes
 * through the fenced writer into the instance's log (offsets, bounded history, publish), and edges
 * follow that log. A takeover recomputes every wanted instance from the bars (the values are
 * anchored, so deterministic) and rewrites the window: the version check drops what Redis has, so
 * the offsets continue with neither a hole nor a repeat. Idle instances are released as on-demand
 * series are.
 */
export class LeaderSeries {
  private readonly held = new Map<string, Held>();
  /** Topics of the instances held for edges: computed with previews, as if clients listened. */
  private readonly heard = new Set<string>();
  private version = 0;
  /**
   * The newest point written of each instance the registry runs, in this term (told by its lease
   * token, unique per lease taken: a term's number comes from a key Redis may have lost with the
   * logs, so a term after a data loss could carry an earlier one's). An instance held
   * again (edges let go of it, then asked again while the registry kept it) needs only the points
   * from there: its older ones were written (a full window per re-hold let a client that reconnects
   * in a loop cost Redis a window of script calls each time). Cleared where a full rewrite is due;
   * after a failed write it is `FAILED` until a full rewrite starts, so a later write that got
   * through cannot hide the one that did not. `until`: released, its log expires then (a re-hold
   * close to it, or after, writes the whole window again).
   */
  private readonly written = new WeakMap<SeriesInstance, { token: string; time: number; until?: number } | typeof FAILED>();
  private demand: LeaderDemand | undefined;
  private registry: SeriesRegistry | undefined;
  private bars: SeriesDemand | undefined;
  readonly writes = { written: 0, dropped: 0, failed: 0 };
  /** One for every instance: they fail together when Redis refuses writes. */
  private readonly backoff = new RetryBackoff();
  /** One line a minute while derived series writes fail (they failed unsaid: an instance froze, rewritten every 5 s, with /health ok). */
  private readonly failLog = createLogDedup({ warn: (msg) => this.cfg.log?.('warn', msg) }, { periodMs: 60_000 });
  /**
   * Seeds share turns of about 4 ms: each encodes its window (up to BUFFER_SIZE points). Instances that
   * went live together were seeded in one go (the continuations of their warm-ups): 176 sockets asking
   * for ~400 new instances through an edge held the leader's loop up to 0.41–0.43 s, 0.16–0.20 s in
   * turns (an attacker-style probe, two runs each), and the leader writes for the whole cluster.
   */
  private readonly seedTurns = new TurnBudget(4);
  /**
   * Released instances' logs set to expire, tried again until Redis takes it (else a release while
   * Redis was away left the log for the day its last write gave it). Held again, an instance's writes
   * keep its log (each sets its expiry): a keep calls nothing, it only voids a free not taken yet. A
   * node that does not lead (any more) lets its frees go: the log is the leader's now, and a free
   * kept for a later term could expire a log edges hold again by then.
   */
  private readonly logs = new SeriesKeep<InstanceMember>({
    expire: leaderExpire(() => this.cfg.lease.state, (token, m: InstanceMember, ttlMs) => this.cfg.writer.freeInstanceLog(token, m.key, instanceKeys(m.label, m.bar, this.cfg.keyPrefix), ttlMs)),
    freedTtlMs: RELEASED_INSTANCE_TTL_MS,
  });

  /** Every held log is named among the kept ones again in a new term (another leader may have freed it). */
  private readonly termSub: Subscription;

  constructor(private readonly cfg: LeaderSeriesConfig) {
    this.termSub = cfg.lease.leader$.subscribe(() => this.logs.newTerm());
  }

  /** What the node's registry takes from the cluster: who listens (the held instances) and where points go. */
  readonly registryDeps: Pick<SeriesRegistryDeps, 'listening' | 'listenersVersion' | 'onPoint' | 'onState'> = {
    listening: (topic) => this.heard.has(topic),
    listenersVersion: () => this.version,
    onPoint: (inst, id, p) => this.onPoint(inst, id, p),
    // Failed, or live again after a restart: the edges get the status; points computed while it was
    // failed are in its window only, so the window is written again.
    onState: (inst, id) => {
      const h = this.held.get(`${inst.label}|${id.key}`);
      const token = this.cfg.lease.state.token;
      if (!h?.seeded || !this.cfg.lease.state.leader || !token) {
        // Not written for edges now (released and kept by the registry, or its seed to come): the next
        // seed writes from the change on. Forgotten, a correction made while no edge held it never
        // reached Redis: the seed wrote from the newest point written on (a review).
        if (inst.state === 'live') this.rewind(inst);
        return;
      }
      void this.writeStatus(h, token, inst);
      if (inst.state === 'live') {
        // After a repaired hole only the points from it on changed; after a failure, any.
        h.rewriteFrom = Math.min(h.rewriteFrom ?? Number.POSITIVE_INFINITY, inst.correctedFrom ?? Number.NEGATIVE_INFINITY);
        this.rewriteLater(h);
      }
    },
  };

  /** The instance's points changed from `correctedFrom` on (any of them, when unknown): written again from there by its next seed. */
  private rewind(inst: SeriesInstance): void {
    const done = this.written.get(inst);
    if (!done || done === FAILED) return;
    if (inst.correctedFrom === undefined) this.written.delete(inst);
    else done.time = Math.min(done.time, inst.correctedFrom);
  }

  /** Instances held for edges now. */
  get size(): number {
    return this.held.size;
  }

  /** Starts answering edges, once the node's registry and lifecycle exist. */
  start(registry: SeriesRegistry, bars: SeriesDemand): void {
    this.registry = registry;
    this.bars = bars;
    this.demand = new LeaderDemand({
      redis: this.cfg.redis,
      subscriber: this.cfg.subscriber,
      keys: this.cfg.keys,
      lease: this.cfg.lease,
      demand: this.instances,
      parseMember: (m) => parseInstanceMember(m, registry),
      seed: (id) => this.seed(id.key),
      staleMs: this.cfg.staleMs,
      maxSeries: this.cfg.maxInstances,
      // An instance a former leader held and edges no longer follow: its log goes as a release's does.
      forget: (id) => this.logs.free(id as InstanceMember),
      kept: leaseKeys(this.cfg.keyPrefix).keptInstances,
      log: this.cfg.log,
    });
  }

  /** LeaderDemand's view: holding an instance holds its bar series and the registry's instance. */
  private readonly instances: SeriesDemand = {
    isLive: (id) => this.held.get(id.key)?.seeded === true,
    touch: () => {},
    want: (id, _address, asker) => this.want(id as InstanceMember, asker),
    release: (id) => this.release(id.key),
  };

  /** `asker`: the client address an edge named (the instance's first warm-up counts against it). */
  private async want(member: InstanceMember, asker?: string): Promise<DemandOutcome> {
    const h: Held = { member, keys: instanceKeys(member.label, member.bar, this.cfg.keyPrefix), seeded: false, released: false };
    this.held.set(member.key, h);
    this.logs.keep(member);
    const outcome = await this.bars!.want(member.bar);
    if (!outcome.ok || h.released) {
      if (this.held.get(member.key) === h) {
        this.held.delete(member.key);
        // Named in the kept set above: not a log anyone holds (see release).
        this.logs.free(member);
      }
      return outcome.ok ? { ok: false, code: 'series_capacity', message: 'released' } : outcome;
    }
    try {
      h.lease = this.registry!.acquire(member.request, member.bar, asker);
    } catch (e) {
      // At the registry's caps, or the engine is stopping (SeriesBusyError: the edge closes its client
      // with 1013 and this message, as ROLE=all does); anything else is the instance's failure.
      this.release(member.key);
      if (e instanceof SeriesBusyError) return { ok: false, code: 'series_busy', message: e.message };
      return { ok: false, code: 'series_capacity', message: `derived series could not start: ${(e as Error).message}` };
    }
    this.heard.add(h.lease.instance.topic);
    this.version++;
    await h.lease.ready;
    return { ok: true };
  }

  private release(key: string): void {
    const h = this.held.get(key);
    if (!h) return;
    this.held.delete(key);
    h.released = true;
    clearTimeout(h.rewrite);
    // Its log goes in a while (fenced: only while this node leads; tried again until Redis takes it);
    // held again within it, the next write keeps it for INSTANCE_LOG_TTL_MS again. One never seeded
    // (refused at the registry's caps, or let go first) leaves the kept set too: `want` named it
    // there, and the labels are the clients' choice (a review: the set grew by every refused ask).
    this.logs.free(h.member);
    if (h.lease) {
      const done = this.written.get(h.lease.instance);
      if (done && done !== FAILED) done.until = Date.now() + RELEASED_INSTANCE_TTL_MS;
      this.heard.delete(h.lease.instance.topic);
      this.version++;
      h.lease.release();
    }
    this.bars!.release(h.member.bar);
  }

  /** Writes the instance's window (points in time order) in a turn of `seedTurns`, and waits for the writes; live points follow. */
  private seed(key: string): Promise<void> {
    return new Promise<void>((resolve, reject) => this.seedTurns.run(() => this.seedNow(key).then(resolve, reject)));
  }

  private async seedNow(key: string): Promise<void> {
    const h = this.held.get(key);
    const token = this.cfg.lease.state.token;
    if (!h?.lease || !this.cfg.lease.state.leader || !token) return;
    h.seeded = true;
    const inst = h.lease.instance;
    const done = this.written.get(inst);
    const forced = h.rewriteFrom;
    h.rewriteFrom = undefined;
    // A log released a while ago may be gone (a minute's margin for the seed's first write, which keeps it).
    const kept = done && done !== FAILED && done.token === token && (done.until === undefined || Date.now() < done.until - 60_000);
    const from = kept ? Math.min(forced ?? Number.POSITIVE_INFINITY, done.time) : Number.NEGATIVE_INFINITY;
    if (from === Number.NEGATIVE_INFINITY) this.written.delete(inst);
    const points = inst.window.last(this.cfg.bufferSize).filter((p) => p.time >= from);
    // In calls of many points each (one per point was ~1,000 script calls per new instance: a few
    // addresses asking for new instances starved the lease's renewal and the leader lost its term).
    const written = this.cfg.writer.writePoints(token, h.keys, points);
    await Promise.all([...points.map((p, i) => this.settled(h, token, p, written[i]!)), this.writeStatus(h, token, inst)]);
  }

  private onPoint(inst: SeriesInstance, id: SeriesId, p: SeriesPoint): void {
    const h = this.held.get(`${inst.label}|${id.key}`);
    const token = this.cfg.lease.state.token;
    if (!h?.seeded || !this.cfg.lease.state.leader || !token) return;
    void this.write(h, token, p);
  }

  private write(h: Held, token: string, p: SeriesPoint): Promise<void> {
    return this.settled(h, token, p, this.cfg.writer.writePoint(token, h.keys, p));
  }

  /** A point's write under `token` settled: counted, and its time kept as written in that term (see `written`). */
  private settled(h: Held, token: string, p: SeriesPoint, write: Promise<WriteResult>): Promise<void> {
    const inst = h.lease?.instance;
    return this.settle(h, token, write, () => {
      const done = inst && this.written.get(inst);
      if (!inst || done === FAILED) return;
      if (!done || done.token !== token || done.time < p.time) this.written.set(inst, { token, time: p.time });
    });
  }

  private writeStatus(h: Held, token: string, inst: SeriesInstance): Promise<void> {
    const status = inst.state === 'failed' ? { status: 'failed' as const, error: inst.error ?? 'failed' } : { status: 'live' as const };
    return this.settle(h, token, this.cfg.writer.writeStatus(token, h.keys, status));
  }

  /** A write under `token` settled; refused, it steps the node down only if it still leads under that token (see LeaderSink's `fenced`). */
  private settle(h: Held, token: string, written: Promise<WriteResult>, stored?: () => void): Promise<void> {
    return written.then(
      (r) => {
        if (r.kind === 'fenced') {
          if (this.cfg.lease.state.token === token) this.cfg.lease.stepDown('a derived series write was refused: the lease is no longer ours (fenced)');
        } else {
          this.writes[r.kind]++;
          stored?.();
        }
      },
      (e: unknown) => {
        // Redis unreachable or refusing: write the whole window again later (the version check drops
        // what got through), backing off while writes keep failing.
        this.writes.failed++;
        this.failLog.warn('write', `derived series writes to redis fail (${String((e as Error)?.message ?? e).slice(0, 200)}; ${h.member.key} the last): each is written again whole, backing off`);
        this.backoff.failed();
        if (h.lease) this.written.set(h.lease.instance, FAILED);
        this.rewriteLater(h);
      },
    );
  }

  private rewriteLater(h: Held): void {
    if (h.rewrite) return;
    h.rewrite = setTimeout(() => {
      h.rewrite = undefined;
      if (this.held.get(h.member.key) === h) void this.seed(h.member.key);
    }, this.backoff.next());
    h.rewrite.unref();
  }

  stop(): void {
    this.termSub.unsubscribe();
    // Before the releases (the demand's stop releases what it holds, then the rest here): the logs are
    // the next leader's to keep, and edges still follow them. A stopping leader freed every one (a
    // rolling restart: each set to expire and counted among the freed).
    this.logs.stop();
    this.demand?.stop();
    this.failLog.flush();
    for (const key of [...this.held.keys()]) this.release(key);
  }

  /** Released instances whose log expiry Redis has not taken yet (tests, health). */
  get pendingLogFrees(): number {
    return this.logs.pendingFrees;
  }
}
