/** Binance's longest ban: bans grow from 2 minutes to 3 days for repeat offenders. */
export const MAX_RETRY_AFTER_MS = 3 * 24 * 3_600_000;

/**
 * A `Retry-After` header (seconds, as Binance sends it, or an HTTP date) as a wait in ms, kept within
 * 1 s and Binance's longest ban, so an odd or hostile value neither hammers the exchange (0, negative)
 * nor stops the engine for good (1e12); `fallbackMs` when absent or unreadable.
 */
export function retryAfterMs(header: string | string[] | undefined, fallbackMs: number, now = Date.now()): number {
  const v = (Array.isArray(header) ? header[0] : header)?.trim();
  let ms = fallbackMs;
  if (v && /^-?\d+(\.\d+)?$/.test(v)) ms = Number(v) * 1000;
  else if (v) {
    const at = Date.parse(v);
    if (Number.isFinite(at)) ms = at - now;
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(1000, ms));
}
