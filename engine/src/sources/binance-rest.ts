import { Agent, type Dispatcher, request } from 'undici';
import { expand, EMPTY, map, type Observable, takeWhile } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import { BinanceRestError, HistoryRefusedError } from '../domain/errors.ts';
import { intervalMs, nextOpen } from '../domain/interval.ts';
import { checkRows, parseKlineRows } from './binance-raw.ts';
import { bodyText, readKlineBody } from './kline-body.ts';
import { fromAbortable } from './abortable.ts';
import { RestGate, type RestPriority, sleep } from './rest-gate.ts';
import { refusalWaitMs } from './retry-after.ts';

/** Binance never returns more than this many rows per klines call. */
export const MAX_KLINES_PER_CALL = 1000;
const KLINES_WEIGHT = 2;

export interface KlinesQuery {
  symbol: string;
  interval: string;
  startTime?: number;
  endTime?: number;
  limit?: number;
}

export interface BinanceRestOptions {
  baseUrl: string;
  weightBudget: number;
  concurrency: number;
  timeoutMs?: number;
  maxAttempts?: number;
  now?: () => number;
  /**
   * The host's clock, for the weight budget's minutes and Retry-After pauses (default Date.now): the
   * exchange counts weight per minute of real time. On the exchange's clock (the simulator's runs up to
   * 60 times faster) the budget rolled every real second and its waits, in exchange ms, were slept in
   * host ms: a mass bootstrap at SIM_SPEED=60 stood still for 34 s (a review).
   */
  hostNow?: () => number;
  /** Called for every response, to feed metrics. */
  onWeight?: (used: number) => void;
  onRetry?: (err: BinanceRestError, attempt: number) => void;
  /** Every response as received (recording): path with query, status, body, and when we asked. */
  onResponse?: (pathAndQuery: string, status: number, body: string, askedAt: number) => void;
}

/** A replayed response carries the time the recorded request was made, so closedness replays exactly. */
export const REPLAY_ASKED_AT_HEADER = 'x-replay-asked-at';

/** A klines page of 1,000 rows is about 200 KB; the whole exchange's exchangeInfo a few MB. Past these, an answer is refused as it streams (a 1 GB one took 5 GB). */
const MAX_KLINES_BODY_BYTES = 4 << 20;
const MAX_BODY_BYTES = 64 << 20;

/** A response's body, refused (the connection dropped) once it passes `max` bytes. */
async function readCapped(res: Dispatcher.ResponseData, max: number, path: string): Promise<Uint8Array> {
  // As a 413: not worth another try at once (each one pulled the bytes again).
  const tooBig = () => new BinanceRestError(`GET ${path}: body over ${max} bytes`, { info: { status: 413, path } });
  if (Number(res.headers['content-length']) > max) {
    res.body.destroy();
    throw tooBig();
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > max) {
      res.body.destroy();
      throw tooBig();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, n);
}

/** Binance REST over undici: weight-aware, paused by 429/418, retried with backoff on 5xx and timeouts. */
export class BinanceRest {
  readonly gate: RestGate;
  private readonly agent: Agent;
  private readonly now: () => number;
  private readonly hostNow: () => number;

  constructor(private readonly opts: BinanceRestOptions) {
    this.now = opts.now ?? Date.now;
    this.hostNow = opts.hostNow ?? Date.now;
    this.gate = new RestGate({ weightBudget: opts.weightBudget, concurrency: opts.concurrency, now: this.hostNow });
    const timeout = opts.timeoutMs ?? 10_000;
    this.agent = new Agent({ headersTimeout: timeout, bodyTimeout: timeout, connect: { timeout }, keepAliveTimeout: 30_000 });
  }

  /** One GET with weight accounting and retries; returns the parsed JSON body. */
  async get(path: string, query: Record<string, string | number | undefined>, weight: number, signal?: AbortSignal): Promise<unknown> {
    return (await this.getTimed(path, query, weight, signal)).body;
  }

  /**
   * As `get`, plus the exchange-clock time the answered request was sent. `decode`, when given, reads a
   * 200 body's bytes first: what it returns is `decoded`, and the body is neither decoded to text nor
   * parsed as JSON; when it returns undefined the body is parsed as JSON as usual.
   */
  async getTimed<D = never>(
    path: string,
    query: Record<string, string | number | undefined>,
    weight: number,
    signal?: AbortSignal,
    priority: RestPriority = 'live',
    decode?: (bytes: Uint8Array, askedAt: number) => D | undefined,
  ): Promise<{ body: unknown; askedAt: number; decoded?: D }> {
    const qs = Object.entries(query)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
      .join('&');
    const url = `${this.opts.baseUrl}${path}${qs ? `?${qs}` : ''}`;
    // Client history is not retried: the client can ask again, and retries would hold a slot.
    const maxAttempts = priority === 'client' ? 1 : (this.opts.maxAttempts ?? 6);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.gate.run(weight, () => this.once(url, path, signal, decode), signal, priority);
      } catch (e) {
        if (e instanceof HistoryRefusedError) throw e;
        const err = e instanceof BinanceRestError ? e : new BinanceRestError(`GET ${path} failed: ${(e as Error).message}`, { cause: e, info: { status: 0, path } });
        if (signal?.aborted || !err.retryable || attempt >= maxAttempts) throw err;
        this.opts.onRetry?.(err, attempt);
        // Jittered exponential backoff; a Retry-After pause is enforced by the gate itself.
        await sleep(Math.min(10_000, 200 * 2 ** (attempt - 1)) * (0.5 + Math.random()), signal);
      }
    }
  }

  private async once<D>(url: string, path: string, signal?: AbortSignal, decode?: (bytes: Uint8Array, askedAt: number) => D | undefined): Promise<{ body: unknown; askedAt: number; decoded?: D }> {
    const sentAt = this.now();
    // The whole answer within a deadline: undici's timeouts bound only the gaps between chunks, so a body
    // dripped a byte a second never ended (the engine never started; a fill held its series' updates).
    const deadline = AbortSignal.timeout(3 * (this.opts.timeoutMs ?? 10_000));
    const res = await request(url, { method: 'GET', dispatcher: this.agent, signal: signal ? AbortSignal.any([signal, deadline]) : deadline, headers: { accept: 'application/json' } });
    const replayed = Number(res.headers[REPLAY_ASKED_AT_HEADER]);
    const askedAt = Number.isFinite(replayed) && replayed > 0 ? replayed : sentAt;
    const used = Number(res.headers['x-mbx-used-weight-1m'] ?? res.headers['x-mbx-used-weight']);
    if (Number.isFinite(used)) {
      this.gate.reportUsed(used);
      this.opts.onWeight?.(used);
    }
    // Bytes, decoded to text only when needed: a klines body is read from its bytes (readKlineBody).
    const bytes = await readCapped(res, path === '/api/v3/klines' ? MAX_KLINES_BODY_BYTES : MAX_BODY_BYTES, path);
    let decodedText: string | undefined;
    const text = () => (decodedText ??= bodyText(bytes));
    if (this.opts.onResponse) this.opts.onResponse(url.slice(this.opts.baseUrl.length), res.statusCode, text(), askedAt);
    if (res.statusCode === 200) {
      const decoded = decode?.(bytes, askedAt);
      if (decoded !== undefined) return { body: undefined, askedAt, decoded };
      try {
        return { body: JSON.parse(text()) as unknown, askedAt };
      } catch (e) {
        throw new BinanceRestError(`GET ${path}: body is not JSON`, { cause: e, info: { status: 200, path } });
      }
    }
    let code: number | undefined;
    let msg = text().slice(0, 200);
    try {
      const body = JSON.parse(text()) as { code?: number; msg?: string };
      code = body.code;
      msg = body.msg ?? msg;
    } catch {
      /* non-JSON error body (HTML from a proxy, say): keep the text */
    }
    let retryAfterMs: number | undefined;
    if (res.statusCode === 429 || res.statusCode === 418) {
      retryAfterMs = refusalWaitMs(res.statusCode, res.headers['retry-after']);
      this.gate.pause(this.hostNow() + retryAfterMs);
    }
    throw new BinanceRestError(`GET ${path} → HTTP ${res.statusCode}${code !== undefined ? ` code ${code}` : ''}: ${msg}`, {
      info: { status: res.statusCode, code, path, retryAfterMs },
    });
  }

  /** `priority`: the RestGate lane ('held' and 'start' for on-demand series, 'client' for history a client asked for): never ahead of live work. */
  async klines(q: KlinesQuery, signal?: AbortSignal, priority: RestPriority = 'live'): Promise<Bar[]> {
    const limit = Math.min(q.limit ?? 500, MAX_KLINES_PER_CALL);
    // A row counts as closed only if it closed before we asked, by the exchange's clock (`now`, a
    // lower bound of it in Binance mode, never the host's): one that closed while the request was in
    // flight may carry its last forming values, so it stays forming until a later update.
    // The body is read straight into bars (readKlineBody); one it does not recognise goes the general way.
    const { body, askedAt, decoded } = await this.getTimed('/api/v3/klines', { symbol: q.symbol, interval: q.interval, startTime: q.startTime, endTime: q.endTime, limit }, KLINES_WEIGHT, signal, priority, readKlineBody);
    const bars = decoded ?? parseKlineRows(body, askedAt);
    checkRows(bars, askedAt, q.interval);
    return bars;
  }

  /** The exchange's clock: `serverTime` of `GET /api/v3/time` (weight 1). */
  async serverTime(signal?: AbortSignal): Promise<number> {
    const body = (await this.get('/api/v3/time', {}, 1, signal)) as { serverTime?: unknown } | null;
    const t = body?.serverTime;
    if (typeof t !== 'number' || !Number.isFinite(t)) throw new BinanceRestError('GET /api/v3/time: no serverTime in the answer', { info: { status: 200, path: '/api/v3/time' } });
    return t;
  }

  /** true when the exchange answers /ping within `timeoutMs` (used by SOURCE=auto). */
  async ping(timeoutMs: number): Promise<boolean> {
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(new Error('timeout')), timeoutMs);
    try {
      const res = await request(`${this.opts.baseUrl}/api/v3/ping`, { dispatcher: this.agent, signal: ac.signal });
      await res.body.dump();
      return res.statusCode === 200;
    } catch {
      return false;
    } finally {
      clearTimeout(t);
    }
  }

  /**
   * Bars with openTime in [from, to] (to defaults to now, forming bar included), page by page, oldest first.
   * Lazy: nothing is fetched until subscribed, and unsubscribing aborts the request in flight. Bounded
   * whatever the exchange answers: rows outside the page's range are dropped, a page that does not move
   * past the last ends the range, and there are at most as many pages as the span needs plus one (an
   * exchange repeating one full page took a warm-store bootstrap to 2.5 GB in 90 s).
   */
  range$(symbol: string, interval: string, from: number, to?: number, priority: RestPriority = 'live'): Observable<Bar[]> {
    const span = (to ?? this.now()) - from + 1;
    const maxPages = Math.max(1, Math.ceil(span / (intervalMs(interval) * MAX_KLINES_PER_CALL))) + 1;
    const page = (startTime: number) =>
      fromAbortable((signal) => this.klines({ symbol, interval, startTime, endTime: to, limit: MAX_KLINES_PER_CALL }, signal, priority)).pipe(
        map((rows) => ({ startTime, rows, bars: rows.filter((b) => b.openTime >= startTime && (to === undefined || b.openTime <= to)) })),
      );
    return page(from).pipe(
      expand(({ startTime, rows, bars }, i) => {
        const last = bars[bars.length - 1];
        if (rows.length < MAX_KLINES_PER_CALL || !last || i + 1 >= maxPages) return EMPTY;
        const next = nextOpen(last.openTime, interval);
        return next <= startTime || (to !== undefined && next > to) ? EMPTY : page(next);
      }),
      map((p) => p.bars),
      takeWhile((bars) => bars.length > 0),
    );
  }

  /** The newest `count` bars (may exceed 1000: pages walk backwards with endTime). */
  async latest(symbol: string, interval: string, count: number, signal?: AbortSignal, priority: RestPriority = 'live'): Promise<Bar[]> {
    const pages: Bar[][] = [];
    let remaining = count;
    let endTime: number | undefined;
    while (remaining > 0) {
      const bars = await this.klines({ symbol, interval, endTime, limit: Math.min(remaining, MAX_KLINES_PER_CALL) }, signal, priority);
      if (bars.length === 0) break;
      pages.unshift(bars);
      remaining -= bars.length;
      if (bars.length < Math.min(remaining + bars.length, MAX_KLINES_PER_CALL)) break; // history exhausted
      endTime = bars[0]!.openTime - 1;
    }
    return pages.flat();
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
