import { type Observable, Subject, type Subscription } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { Logger } from '../log.ts';
import { type Params, resolveParams, type SeriesDefinition, SeriesDefinitionError, type SeriesPoint } from './define-series.ts';
import { PointWindow } from './point-window.ts';
import { seriesPointSerializer } from './series-wire.ts';
import type { WirePosition } from '../domain/wire.ts';

export interface SeriesRequest {
  def: SeriesDefinition;
  params: Params;
  /** `name` for default parameters, `name:period=21` otherwise: the label clients see. */
  label: string;
}

export interface SeriesInstance {
  readonly label: string;
  readonly topic: string;
  readonly window: PointWindow;
}

export interface SeriesRegistryDeps {
  bufferSize: number;
  log: Logger;
  /** The series' bars in the hot window, oldest first (warm-up). */
  history(id: SeriesId): Bar[];
  /** Every bar of the series after it was written to the window. */
  bars$(id: SeriesId): Observable<Bar>;
  /** Publishes a point; the message is built only if someone listens. */
  publish(topic: string, message: () => string): void;
  /** Whether anyone listens to a topic now (optional: without it every update is computed). */
  listening?(topic: string): boolean;
  /** Changes whenever any topic gains or loses its listeners (optional): lets a feed keep its list of
   *  listened instances between changes instead of asking for every instance on every update. */
  listenersVersion?(): number;
  onError(name: string): void;
  restartDelayMs?: number;
  /** The candle series' position, carried on each point (issue 13); optional. */
  position?(id: SeriesId): WirePosition;
}

/** Caps the parameter variants a client can make the engine compute, per series definition. */
const MAX_VARIANTS_PER_DEFINITION = 32;

/**
 * Runs derived series: one computation per (definition, parameters, symbol, interval), created on
 * first request, warmed up synchronously over the stored window (so values exist across the whole
 * historical window at connect), then fed every live bar and published once to its topic. A series
 * that throws is logged, counted and restarted with backoff; it never touches candles or other series.
 */
export class SeriesRegistry {
  private readonly defs = new Map<string, SeriesDefinition>();
  private readonly instances = new Map<string, SeriesInstance>();
  private readonly subs = new Set<Subscription>();
  private readonly variants = new Map<string, Set<string>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly feeds = new Map<string, Array<{ topic: string; input: Subject<Bar> }>>();
  /** Each series' feed subscription, so a series no longer served can be released alone. */
  private readonly feedSubs = new Map<string, Subscription>();

  constructor(
    defs: readonly SeriesDefinition[],
    private readonly deps: SeriesRegistryDeps,
  ) {
    for (const d of defs) this.defs.set(d.name, d);
  }

  list() {
    return [...this.defs.values()].map((d) => ({ name: d.name, description: d.description ?? '', pane: d.pane, interval: d.interval ?? null, plot: d.plot ?? null, params: d.params }));
  }

  get size(): number {
    return this.defs.size;
  }

  /** Parses `ema-cross,rsi:period=21` into requests; an error names the bad part and the valid names. */
  parse(spec: string | undefined, interval: string): { ok: true; value: SeriesRequest[] } | { ok: false; error: string } {
    if (!spec) return { ok: true, value: [] };
    const out: SeriesRequest[] = [];
    for (const part of spec.split(',').filter(Boolean).slice(0, 16)) {
      const [name = '', ...kvs] = part.split(':');
      const def = this.defs.get(name);
      if (!def) return { ok: false, error: `unknown series '${name.slice(0, 40)}'; available series: ${[...this.defs.keys()].join(', ') || 'none'}` };
      if (def.interval && def.interval !== interval) return { ok: false, error: `series '${name}' is computed on ${def.interval} bars only` };
      const overrides: Record<string, string> = {};
      for (const kv of kvs.flatMap((s) => s.split(';'))) {
        const [k = '', v = ''] = kv.split('=');
        if (k) overrides[k] = v;
      }
      try {
        const params = resolveParams(def, overrides);
        out.push({ def, params, label: labelOf(def, params) });
      } catch (e) {
        return { ok: false, error: (e as Error).message };
      }
    }
    return { ok: true, value: out };
  }

  /** The running instance for a request on a series; created (and warmed up) on first use. */
  instance(req: SeriesRequest, id: SeriesId): SeriesInstance {
    const key = `${req.label}|${id.key}`;
    const hit = this.instances.get(key);
    if (hit) return hit;
    const variants = this.variants.get(req.def.name) ?? new Set<string>();
    if (!variants.has(req.label) && variants.size >= MAX_VARIANTS_PER_DEFINITION) {
      throw new SeriesDefinitionError(`too many parameter variants of '${req.def.name}' (max ${MAX_VARIANTS_PER_DEFINITION}); use its defaults`);
    }
    variants.add(req.label);
    this.variants.set(req.def.name, variants);
    const inst: SeriesInstance = { label: req.label, topic: `series/${req.label}/${id.symbol}/${id.interval}`, window: new PointWindow(this.deps.bufferSize) };
    this.instances.set(key, inst);
    const { log, onError, restartDelayMs = 1000 } = this.deps;
    const input = this.feed(id, inst.topic);
    const position = this.deps.position;
    const message = seriesPointSerializer(inst.label, id.symbol, id.interval, position && (() => position(id)));
    const publish = (p: SeriesPoint) => {
      if (inst.window.upsert(p) !== 'older') this.deps.publish(inst.topic, () => message(p));
    };
    // No concat/retry layers per bar: the operator sits right on the feed; a run is warmed up by
    // pushing the stored window through it, and a failed one is rebuilt (warm-up included) after a backoff.
    let failures = 0;
    const fail = (err: unknown): void => {
      failures++;
      onError(req.def.name);
      log.warn('derived series failed; restarting', { series: req.label, key: id.key, attempt: failures, err: err as Error });
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        run();
      }, Math.min(60_000, restartDelayMs * 2 ** Math.min(failures - 1, 6)));
      this.timers.add(timer);
    };
    const run = (): void => {
      // Released (its series no longer served) while a restart was pending.
      if (this.instances.get(key) !== inst) return;
      let ok = true;
      let sub: Subscription | undefined = undefined;
      try {
        sub = input.pipe(req.def.operator(req.params)).subscribe({
          next: (p) => {
            failures = 0;
            publish(p);
          },
          error: (err: unknown) => {
            ok = false;
            if (sub) this.subs.delete(sub);
            fail(err);
          },
          // Its series was released: the feed completed.
          complete: () => {
            if (sub) this.subs.delete(sub);
          },
        });
      } catch (err) {
        // A user's operator factory that throws (on a restart, in a timer) must not take the engine down.
        fail(err);
        return;
      }
      if (!ok) return;
      this.subs.add(sub);
      for (const bar of this.deps.history(id)) {
        if (!ok) return;
        input.next(bar);
      }
    };
    run();
    return inst;
  }

  /**
   * One subscription per series feeds all its instances in a plain loop. While nobody listens to an
   * instance, a forming bar's preview would be computed for no one, so only closed bars go in (closed
   * values never depend on previews); the next update after someone subscribes is previewed again.
   */
  private feed(id: SeriesId, topic: string): Subject<Bar> {
    let targets = this.feeds.get(id.key);
    if (!targets) {
      const list: Array<{ topic: string; input: Subject<Bar> }> = (targets = []);
      this.feeds.set(id.key, list);
      const { listening, listenersVersion } = this.deps;
      // The instances someone listens to, as of `version` (NaN: never computed).
      let heard: Array<Subject<Bar>> = [];
      let version = Number.NaN;
      let size = 0;
      const feedSub = this.deps.bars$(id).subscribe((bar) => {
          if (bar.closed || !listening) {
            for (const t of list) t.input.next(bar);
            return;
          }
          const v = listenersVersion ? listenersVersion() : Number.NaN;
          if (v !== version || list.length !== size || Number.isNaN(v)) {
            heard = list.filter((t) => listening(t.topic)).map((t) => t.input);
            version = v;
            size = list.length;
          }
          for (const input of heard) input.next(bar);
        });
      this.feedSubs.set(id.key, feedSub);
    }
    const input = new Subject<Bar>();
    targets.push({ topic, input });
    return input;
  }

  /**
   * Ends every instance computed on a series no longer served: their feed and runs stop, their point
   * windows are dropped (a client asking again later gets a fresh warm-up from the new window).
   */
  releaseSeries(id: SeriesId): void {
    this.feedSubs.get(id.key)?.unsubscribe();
    this.feedSubs.delete(id.key);
    for (const t of this.feeds.get(id.key) ?? []) t.input.complete();
    this.feeds.delete(id.key);
    const suffix = `|${id.key}`;
    for (const key of [...this.instances.keys()]) if (key.endsWith(suffix)) this.instances.delete(key);
  }

  stop(): void {
    for (const s of this.feedSubs.values()) s.unsubscribe();
    this.feedSubs.clear();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.subs) s.unsubscribe();
    this.subs.clear();
    for (const targets of this.feeds.values()) for (const t of targets) t.input.complete();
    this.feeds.clear();
  }
}

function labelOf(def: SeriesDefinition, params: Params): string {
  const diff = Object.keys(params)
    .filter((k) => params[k] !== def.params[k])
    .sort()
    .map((k) => `${k}=${String(params[k])}`);
  return diff.length ? `${def.name}:${diff.join(';')}` : def.name;
}
