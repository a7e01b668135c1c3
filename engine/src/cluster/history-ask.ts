import type { Bar } from '../domain/bar.ts';
import { type SeriesId, seriesId } from '../domain/series-id.ts';
import { decodeBar, encodeBar } from './bar-codec.ts';

/**
 * An edge's ask for bars older than the cluster keeps, published to the leader, and the leader's
 * reply on the edge's own channel. Both travel as JSON; whatever is read back is validated before
 * it names a channel or reaches the exchange (a message on a Redis channel is anyone's).
 */
export interface HistoryAsk {
  /** The edge's id for the ask (answers are matched by it). */
  readonly id: string;
  /** The asking edge's NODE_ID: the reply goes to its channel. */
  readonly node: string;
  readonly series: SeriesId;
  readonly endTime: number;
  readonly limit: number;
  /** The client's address: the leader's per-address history limit applies to it as in ROLE=all. */
  readonly address: string;
}

export type HistoryReply =
  | { readonly id: string; readonly bars: Bar[] }
  | { readonly id: string; readonly error: { readonly reason: 'rate' | 'busy' | 'failed'; readonly message: string; readonly retryAfterSec?: number } };

/** Bars one ask may have (a page of the exchange's klines). */
export const MAX_ASK_BARS = 1000;
const ID_RE = /^[A-Za-z0-9_-]{1,40}$/;
const NODE_RE = /^[\w.-]{1,64}$/;
const MAX_ASK_TEXT = 1024;
const MAX_MESSAGE = 500;

export function encodeAsk(a: HistoryAsk): string {
  return JSON.stringify({ id: a.id, node: a.node, symbol: a.series.symbol, interval: a.series.interval, endTime: a.endTime, limit: a.limit, address: a.address });
}

/** The ask, or undefined for anything malformed (counted by the caller, never answered). */
export function parseAsk(text: string): HistoryAsk | undefined {
  if (text.length > MAX_ASK_TEXT) return undefined;
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    const { id, node, symbol, interval, endTime, limit, address } = o;
    if (typeof id !== 'string' || !ID_RE.test(id) || typeof node !== 'string' || !NODE_RE.test(node)) return undefined;
    if (typeof symbol !== 'string' || typeof interval !== 'string' || typeof address !== 'string' || address.length > 100) return undefined;
    if (!Number.isSafeInteger(endTime) || !Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > MAX_ASK_BARS) return undefined;
    return { id, node, series: seriesId(symbol, interval), endTime: endTime as number, limit: limit as number, address };
  } catch {
    return undefined; // not JSON, or not a valid series
  }
}

export function encodeReply(r: HistoryReply): string {
  if ('bars' in r) return JSON.stringify({ id: r.id, bars: r.bars.map(encodeBar) });
  return JSON.stringify({ id: r.id, error: { ...r.error, message: r.error.message.slice(0, MAX_MESSAGE) } });
}

/** The reply, or undefined if malformed (a bar that does not decode makes the whole reply malformed: never fewer bars). */
export function parseReply(text: string): HistoryReply | undefined {
  try {
    const o = JSON.parse(text) as { id?: unknown; bars?: unknown; error?: { reason?: unknown; message?: unknown; retryAfterSec?: unknown } };
    if (typeof o.id !== 'string') return undefined;
    if (Array.isArray(o.bars)) {
      const bars = o.bars.map((m) => (typeof m === 'string' ? decodeBar(m) : undefined));
      return bars.every((b): b is Bar => b !== undefined) ? { id: o.id, bars } : undefined;
    }
    const e = o.error;
    if (!e || (e.reason !== 'rate' && e.reason !== 'busy' && e.reason !== 'failed') || typeof e.message !== 'string') return undefined;
    const retry = typeof e.retryAfterSec === 'number' && e.retryAfterSec > 0 && e.retryAfterSec < 3600 ? e.retryAfterSec : undefined;
    return { id: o.id, error: { reason: e.reason, message: e.message.slice(0, MAX_MESSAGE), ...(retry ? { retryAfterSec: retry } : {}) } };
  } catch {
    return undefined;
  }
}
