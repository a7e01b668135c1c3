/**
 * A recording is gzip-compressed JSON lines, one per thing the engine received from the exchange:
 *   {"k":"meta", "version": 1, "t", "symbols", "intervals", "source"}   first line
 *   {"k":"ws",   "t", "d": "<frame text>"}                               every upstream frame
 *   {"k":"rest", "t", "a": askedAt, "q": "/api/v3/klines?…", "s": 200, "b": "<body>"}
 * `t` is the exchange-clock receive time in ms. `version` is the format's (RECORDING_VERSION); files
 * written before it was added have none and are read as version 1. A replay refuses any other.
 */
export const RECORDING_VERSION = 1;

export type RecordLine =
  | { k: 'meta'; version?: number; t: number; symbols: string[]; intervals: string[]; source: string }
  | { k: 'ws'; t: number; d: string }
  | { k: 'rest'; t: number; a: number; q: string; s: number; b: string };

export function isRecordLine(v: unknown): v is RecordLine {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  if (typeof o.t !== 'number') return false;
  if (o.k === 'ws') return typeof o.d === 'string';
  if (o.k === 'rest') return typeof o.q === 'string' && typeof o.s === 'number' && typeof o.b === 'string' && typeof o.a === 'number';
  return o.k === 'meta' && Array.isArray(o.symbols) && Array.isArray(o.intervals);
}
