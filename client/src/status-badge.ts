import type { MarketState } from './store/market.ts';

export interface StatusBadge {
  text: 'error' | 'loading' | 'connecting' | 'reconnecting' | 'replay ended' | 'stale' | 'live';
  cls: 'bad' | 'warn' | 'ok';
}

/**
 * The header's status badge: this view's socket first, then what the engine says of its upstream.
 * `previous` is what the badge said before: a new socket's first message (`historical`,
 * `recovered`) comes a moment before the engine's `status`, and until that arrives the upstream's
 * state is unknown. Saying `live` in that moment flashed `live` through an outage; the badge keeps
 * saying (re)connecting instead.
 */
export function statusBadge(connection: MarketState['connection'], upstream: MarketState['upstream'], previous?: StatusBadge): StatusBadge {
  if (connection === 'error') return { text: 'error', cls: 'bad' };
  if (connection === 'loading') return { text: 'loading', cls: 'warn' };
  if (connection === 'reconnecting' || connection === 'connecting') return { text: connection, cls: 'warn' };
  if (upstream === 'unknown' && (previous?.text === 'connecting' || previous?.text === 'reconnecting')) return previous;
  if (upstream === 'reconnecting') return { text: 'reconnecting', cls: 'warn' };
  // A replay that played its last frame: no update is due, so the quiet chart is not stale.
  if (upstream === 'ended') return { text: 'replay ended', cls: 'ok' };
  if (connection === 'stale' || upstream === 'stale') return { text: 'stale', cls: 'warn' };
  return { text: 'live', cls: 'ok' };
}
