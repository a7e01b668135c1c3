/**
 * What an operator emits goes on the wire as a point, serialized without JSON.stringify on the hot
 * path (series-wire.ts), so a point that is not one is refused here: a forgotten `closed` made frames
 * that were not JSON (`"is_closed":undefined`), a string value or time went out quoted, and a
 * Promise (an `async` mapper) failed later, unhandled, and took the process down (an attacker-style
 * probe, through a client asking for the series).
 */

/** Most named values in one point (MACD has 3, Bollinger 3). */
const MAX_VALUES = 16;
const VALUE_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/;
/**
 * Names that passed VALUE_NAME_RE: a series emits the same few in every point, and the regex was 1.6 %
 * of an engine's CPU serving ranges of 10,000 points. Bounded (names come from users' operators).
 */
const KNOWN_NAMES = new Set<string>();
const MAX_KNOWN_NAMES = 1024;
const plainName = (k: string): boolean => {
  if (KNOWN_NAMES.has(k)) return true;
  if (!VALUE_NAME_RE.test(k)) return false;
  if (KNOWN_NAMES.size < MAX_KNOWN_NAMES) KNOWN_NAMES.add(k);
  return true;
};

const isNumberOrNone = (v: unknown) => v === undefined || v === null || typeof v === 'number';

/** Why `p` cannot go out as a point (undefined: it can). A Promise's rejection is handled here (it is refused). */
export function pointProblem(p: unknown): string | undefined {
  if (typeof p !== 'object' || p === null) return `a point must be an object { time, value | values, closed }, got ${p === null ? 'null' : typeof p}`;
  const then = (p as { then?: unknown }).then;
  if (typeof then === 'function') {
    // Nobody will await it: its rejection must not become the process's.
    (p as Promise<unknown>).then(undefined, () => undefined);
    return 'a point was a Promise: operators emit points synchronously (an async map?)';
  }
  const { time, value, values, closed } = p as Record<string, unknown>;
  if (!Number.isSafeInteger(time)) return `a point's time must be an integer (ms), got ${describe(time)}`;
  if (typeof closed !== 'boolean') return `a point's closed must be true or false, got ${describe(closed)}`;
  if (values !== undefined) {
    if (typeof values !== 'object' || values === null || Array.isArray(values)) return `a point's values must be an object of numbers, got ${describe(values)}`;
    // Every live point of a multi-valued series passes here: no array of its names is made.
    let n = 0;
    for (const k in values) {
      if (++n > MAX_VALUES) return `a point has more than ${MAX_VALUES} values`;
      if (!plainName(k)) return `a point's value name ${JSON.stringify(k.slice(0, 40))} is not a plain name`;
      if (!isNumberOrNone((values as Record<string, unknown>)[k])) return `a point's value '${k}' must be a number, got ${describe((values as Record<string, unknown>)[k])}`;
    }
  } else if (!isNumberOrNone(value)) return `a point's value must be a number, got ${describe(value)}`;
  return undefined;
}

const describe = (v: unknown) => (typeof v === 'string' ? `the string ${JSON.stringify(v.slice(0, 20))}` : v === undefined ? 'nothing' : Array.isArray(v) ? 'an array' : typeof v);

/** Within a day of the bars fed, read as ms: a time in seconds. */
const DAY_MS = 86_400_000;

/**
 * Why a point's `time` (a safe integer) cannot be a bar's open time (undefined: it can). A point belongs
 * to its bar's open time: the current bar's, or an earlier one's (a correction, a pivot confirmed
 * later, a coarser bucket's open from `resample`, which may precede the first bar fed). So it is not
 * after the newest bar fed, and for bars of a fixed length `barMs` (not months) it lies on their grid;
 * a time that reads as the bars' in seconds is refused too. Times in seconds, a day ahead or at a
 * bar's close were taken silently: GET /series hid them (it filters by range), a WebSocket client
 * was sent them.
 */
export function pointTimeProblem(time: number, first: number, newest: number, barMs?: number): string | undefined {
  const onGrid = (t: number) => !barMs || (t - newest) % barMs === 0;
  const seconds = time < first && time * 1000 >= first - DAY_MS && time * 1000 <= newest + DAY_MS;
  if (time <= newest && onGrid(time) && !seconds) return undefined;
  const hint = seconds
    ? 'seconds instead of ms?'
    : barMs && onGrid(time + 1) && time < newest + barMs
      ? "a bar's close time? a point takes its bar's open time"
      : time > newest
        ? `later than the newest bar fed, ${newest}`
        : `off the grid of the bars, which open every ${barMs} ms`;
  return `a point's time ${time} is not a bar's open time (${hint})`;
}
