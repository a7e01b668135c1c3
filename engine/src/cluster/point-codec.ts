import type { SeriesPoint } from '../series/define-series.ts';

/** An instance's state in its log (a failed operator, or running again), beside its points. */
export interface InstanceStatus {
  readonly status: 'live' | 'failed';
  readonly error?: string;
}

/** What an instance's log carries: its points, and its status. */
export type InstanceItem = SeriesPoint | InstanceStatus;

export function isStatus(item: InstanceItem): item is InstanceStatus {
  return 'status' in item;
}

/** Longest member worth decoding (a point with a few dozen named values). */
const MAX_MEMBER = 4096;

/**
 * A derived-series point as the cluster stores and publishes it: `[time, closed (0/1), value]` with
 * `value` a number, an object of named numbers, or null. Non-finite numbers travel as null and come
 * back as NaN, which the wire renders as null again (as ROLE=all renders them).
 */
export function encodePoint(p: SeriesPoint): string {
  return JSON.stringify([p.time, p.closed ? 1 : 0, p.values ?? p.value ?? null]);
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : v === null ? Number.NaN : undefined);

/** The point of a member read from Redis; undefined when malformed (skipped and counted by the caller). */
export function decodePoint(member: string): SeriesPoint | undefined {
  if (member.length > MAX_MEMBER) return undefined;
  let a: unknown;
  try {
    a = JSON.parse(member);
  } catch {
    return undefined;
  }
  if (!Array.isArray(a) || a.length !== 3 || !Number.isSafeInteger(a[0]) || (a[1] !== 0 && a[1] !== 1)) return undefined;
  const [time, closed, v] = a as [number, number, unknown];
  if (v === null || typeof v === 'number') return { time, value: num(v), closed: closed === 1 };
  if (typeof v !== 'object' || Array.isArray(v)) return undefined;
  const values: Record<string, number> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const n = num(x);
    if (n === undefined) return undefined;
    values[k] = n;
  }
  return { time, values, closed: closed === 1 };
}

/** `{"s":"failed","e":"…"}`: an instance's status as its log stores it (sorted above every point). */
export function encodeStatus(s: InstanceStatus): string {
  return JSON.stringify(s.error === undefined ? { s: s.status } : { s: s.status, e: s.error });
}

/** A member of an instance's log: a point, or its status; undefined when malformed. */
export function decodeInstanceItem(member: string): InstanceItem | undefined {
  if (!member.startsWith('{')) return decodePoint(member);
  if (member.length > MAX_MEMBER) return undefined;
  try {
    const o = JSON.parse(member) as { s?: unknown; e?: unknown };
    if (o.s !== 'live' && o.s !== 'failed') return undefined;
    if (o.e !== undefined && typeof o.e !== 'string') return undefined;
    return o.e === undefined ? { status: o.s } : { status: o.s, error: o.e };
  } catch {
    return undefined;
  }
}
