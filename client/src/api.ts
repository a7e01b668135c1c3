import type { Candle } from './store/candle.ts';
import { isTime, toCandle } from './feed/messages.ts';
import type { Market, SeriesDef, SeriesParamSpec } from './feed/wire.ts';
import { type PointValues, toValues } from './store/series-points.ts';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

export interface Catalog {
  symbols: string[];
  configured: string[];
  markets: Market[];
  intervals: string[];
  source: string | null;
}

/** `GET /symbols`: every trading symbol, the configured ones, and base/quote per symbol when the engine knows them. */
export async function fetchCatalog(): Promise<Catalog> {
  const res = await fetch('/symbols');
  if (!res.ok) throw new Error(`/symbols answered ${res.status}`);
  const body = (await res.json()) as Record<string, unknown>;
  const symbols = strings(body.symbols);
  const markets = (Array.isArray(body.markets) ? body.markets : []).flatMap((m): Market[] =>
    isObj(m) && typeof m.symbol === 'string' && typeof m.base === 'string' && typeof m.quote === 'string' ? [{ symbol: m.symbol, base: m.base, quote: m.quote }] : [],
  );
  return { symbols, configured: Array.isArray(body.configured) ? strings(body.configured) : symbols, markets, intervals: strings(body.intervals), source: typeof body.source === 'string' ? body.source : null };
}

/** Longest `Retry-After` honoured, and how many times: history is worth a short wait, not a hung chart. */
const MAX_RETRY_AFTER_MS = 10_000;
const RETRIES = 3;

/**
 * `fetch` that waits out a 429 or 503 carrying `Retry-After` (the engine refuses client history it
 * cannot serve now rather than queueing it) and tries again, a few times; other answers are returned.
 */
export async function fetchPolitely(url: string, sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(url);
    const after = Number(res.headers.get('retry-after'));
    if ((res.status !== 429 && res.status !== 503) || !Number.isFinite(after) || after < 0 || attempt >= RETRIES) return res;
    await sleep(Math.min(MAX_RETRY_AFTER_MS, after * 1000) * (1 + Math.random() / 4));
  }
}

/**
 * Candles older than `endTime`; none when there are no older ones: the market's history starts later,
 * or (a replay) the recording does not reach that far (404 `before_recording`). Either way the chart
 * stops scrolling back; thrown, it would ask again every few seconds, for an answer that cannot change.
 */
export async function fetchOlder(symbol: string, interval: string, endTime: number, limit: number): Promise<Candle[]> {
  const res = await fetchPolitely(`/candles/${encodeURIComponent(symbol)}/${encodeURIComponent(interval)}?endTime=${endTime}&limit=${limit}`);
  if (res.status === 404 && (await beforeRecording(res))) return [];
  if (!res.ok) throw new Error(`/candles answered ${res.status}`);
  const body = (await res.json()) as { candles?: unknown[] };
  return (body.candles ?? []).map(toCandle).filter((c): c is Candle => c !== undefined);
}

/** Whether a 404 is the engine saying its recording starts later (a replay), not a missing route. */
async function beforeRecording(res: Response): Promise<boolean> {
  const body = (await res.json().catch(() => undefined)) as { code?: unknown } | undefined;
  return isObj(body) && body.code === 'before_recording';
}

/**
 * A parameter as `GET /series` gives it: a bare default (`{period: 14}`), or a declaration with a
 * range (`{period: {default: 14, min: 2, max: 200, integer: true}}`), or an array of declarations.
 */
export function toParamSpec(name: string, v: unknown): SeriesParamSpec | undefined {
  const prim = (x: unknown) => typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean';
  if (prim(v)) return { name, default: v as number | string | boolean, type: typeof v as SeriesParamSpec['type'] };
  if (!isObj(v)) return undefined;
  const d = 'default' in v ? v.default : v.value;
  if (!prim(d)) return undefined;
  const spec: SeriesParamSpec = { name, default: d as number | string | boolean, type: typeof d as SeriesParamSpec['type'] };
  const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
  const min = num(v.min);
  const max = num(v.max);
  const step = num(v.step);
  if (min !== undefined) spec.min = min;
  if (max !== undefined) spec.max = max;
  if (step !== undefined) spec.step = step;
  if (v.integer === true || v.type === 'integer' || v.type === 'int') spec.integer = true;
  const options = strings(v.options ?? v.enum);
  if (options.length) spec.options = options;
  return spec;
}

export function toSeriesDef(v: unknown): SeriesDef | undefined {
  if (!isObj(v) || typeof v.name !== 'string') return undefined;
  const params: SeriesParamSpec[] = [];
  if (Array.isArray(v.params)) {
    for (const p of v.params) if (isObj(p) && typeof p.name === 'string') {
      const spec = toParamSpec(p.name, p);
      if (spec) params.push(spec);
    }
  } else if (isObj(v.params)) {
    // `params` holds the defaults and `ranges` what a client may set (`{period: {min: 1, max: 500}}`).
    const ranges = isObj(v.ranges) ? v.ranges : {};
    for (const [k, p] of Object.entries(v.params)) {
      const range = ranges[k];
      const spec = toParamSpec(k, isObj(range) && !isObj(p) ? { ...range, default: p } : p);
      if (!spec) continue;
      // Numbers are whole when their default is, unless the range says otherwise.
      if (spec.type === 'number' && !(isObj(range) && range.integer === false) && Number.isInteger(spec.default)) spec.integer = true;
      params.push(spec);
    }
  }
  const def: SeriesDef = {
    name: v.name,
    description: typeof v.description === 'string' ? v.description : '',
    pane: v.pane === 'overlay' ? 'overlay' : 'oscillator',
    plot: Array.isArray(v.plot) ? strings(v.plot) : null,
    params,
  };
  if (typeof v.interval === 'string') def.interval = v.interval;
  return def;
}

/** Whether a chart on `interval` may ask for the series: one pinned to another interval is refused there. */
export function seriesOffered(def: Pick<SeriesDef, 'interval'>, interval: string): boolean {
  return def.interval === undefined || def.interval === interval;
}

export async function fetchSeriesCatalog(): Promise<SeriesDef[]> {
  const res = await fetch('/series');
  if (!res.ok) throw new Error(`/series answered ${res.status}`);
  const body = (await res.json()) as { series?: unknown[] };
  // Instances may be listed per symbol too; the picker wants one entry per series name.
  const byName = new Map<string, SeriesDef>();
  for (const d of (body.series ?? []).map(toSeriesDef)) if (d && !byName.has(d.name)) byName.set(d.name, d);
  return [...byName.values()];
}

/** `rsi:period=21;x=2` → the series name and its query parameters. */
export function splitSeriesLabel(label: string): { name: string; params: Array<[string, string]> } {
  const [name = '', rest = ''] = label.split(/:(.*)/s);
  const params = rest
    .split(';')
    .filter(Boolean)
    .map((kv): [string, string] => {
      const i = kv.indexOf('=');
      return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)];
    });
  return { name, params };
}

/**
 * A derived series' label from its parameters, spelled as the engine labels its instances (the keys
 * of its messages): only values that differ from the defaults, by parameter name (`ema-cross:fast=5;slow=30`).
 */
export function seriesLabel(def: SeriesDef, values: Record<string, number | string | boolean>): string {
  const parts = def.params
    .filter((p) => values[p.name] !== undefined && values[p.name] !== p.default)
    .map((p) => p.name)
    .sort()
    .map((k) => `${k}=${String(values[k])}`);
  return parts.length ? `${def.name}:${parts.join(';')}` : def.name;
}

/**
 * A label as a link or a person wrote it (`rsi:period=14`, parameters in any order, defaults spelled
 * out) in the engine's spelling (`rsi`): its messages are keyed by that, so a series asked with its
 * default spelled out was never drawn live (a chart soak). A series or parameter the catalog does not
 * know is left as written (the engine answers it with an error).
 */
export function canonicalSeriesLabel(label: string, defs: readonly SeriesDef[]): string {
  const { name, params } = splitSeriesLabel(label);
  const def = defs.find((d) => d.name === name);
  if (!def) return label;
  const values: Record<string, number | string | boolean> = {};
  for (const [k, v] of params) {
    const spec = def.params.find((p) => p.name === k);
    if (!spec) return label;
    const typed = typeof spec.default === 'number' ? Number(v) : typeof spec.default === 'boolean' ? v === 'true' : v;
    if (typeof typed === 'number' && !Number.isFinite(typed)) return label;
    values[k] = typed;
  }
  return seriesLabel(def, values);
}

export class SeriesFailedError extends Error {
  override readonly name = 'SeriesFailedError';
}

/**
 * Points of a derived series for the candles up to `endTime` (`GET /series/…?endTime=&limit=`): the
 * engine computes them over stored and fetched candles with warm-up, so they continue the live ones.
 */
export async function fetchSeriesPoints(label: string, symbol: string, interval: string, endTime: number, limit: number): Promise<Array<{ time: number; values: PointValues }>> {
  const { name, params } = splitSeriesLabel(label);
  const q = new URLSearchParams(params);
  q.set('endTime', String(endTime));
  q.set('limit', String(limit));
  const res = await fetchPolitely(`/series/${encodeURIComponent(name)}/${encodeURIComponent(symbol)}/${encodeURIComponent(interval)}?${q.toString()}`);
  const body = (await res.json().catch(() => ({}))) as { points?: unknown[]; error?: unknown; state?: unknown };
  // 503 is a failed series when it says so (or gives no Retry-After), else a busy engine.
  if (res.status === 503 && (body.state === 'failed' || !res.headers.has('retry-after'))) throw new SeriesFailedError(typeof body.error === 'string' ? body.error : 'series failed');
  if (!res.ok) throw new Error(`/series answered ${res.status}`);
  // A time a Date can hold, as the socket's points are checked (one past it broke the chart's axis).
  return (Array.isArray(body.points) ? body.points : []).flatMap((p) => {
    if (!isObj(p) || !isTime(p.time)) return [];
    const values = toValues(p);
    return values ? [{ time: p.time, values }] : [];
  });
}
