/** Binance's longest ban: bans grow from 2 minutes to 3 days for repeat offenders. */
export const MAX_RETRY_AFTER_MS = 3 * 24 * 3_600_000;
/** A 429 is no ban: Binance's longest rate window is 5 minutes (raw requests). */
export const MAX_429_WAIT_MS = 5 * 60_000;

/** The wait a refusal asks for: a 418 (a ban) up to 3 days, a 429 up to 5 minutes (one 429 of `Retry-After: 999999999` stopped every fill for 3 days). */
export const refusalWaitMs = (status: number, header: string | string[] | undefined, now = Date.now()): number =>
  status === 418 ? retryAfterMs(header, 120_000, now) : retryAfterMs(header, 60_000, now, MAX_429_WAIT_MS);

/**
 * A `Retry-After` header (seconds, as Binance sends it, or an HTTP date) as a wait in ms, kept within
 * 1 s and Binance's longest ban, so an odd or hostile value neither hammers the exchange (0, negative)
 * nor stops the engine for good (1e12); `fallbackMs` when absent or unreadable.
 */
export function retryAfterMs(header: string | string[] | undefined, fallbackMs: number, now = Date.now(), maxMs = MAX_RETRY_AFTER_MS): number {
  const v = (Array.isArray(header) ? header[0] : header)?.trim();
  let ms = fallbackMs;
  if (v && /^-?\d+(\.\d+)?$/.test(v)) ms = Number(v) * 1000;
  else if (v) {
    const at = Date.parse(v);
    if (Number.isFinite(at)) ms = at - now;
  }
  return Math.min(maxMs, Math.max(1000, ms));
}
