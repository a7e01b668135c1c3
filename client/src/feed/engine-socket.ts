import { mergeCandle, setCandlesForSymbol, setConnection, setError, setUpstream } from '../store/actions.ts';
import { market } from '../store/market.ts';
import { mergeSeriesPoint, setSeriesPoints } from '../store/series-points.ts';
import { parseEngineMessage } from './messages.ts';

/** Close code the engine sends after an `error` message: retrying would fail the same way. */
const CLOSE_BAD_REQUEST = 4000;
/** No live update for this long: the badge says stale (Binance pushes every 2 s). */
export const STALE_AFTER_MS = 10_000;

export interface EngineSocketOptions {
  symbol: string;
  interval: string;
  /** Derived series to receive (`rsi`, `ema-cross:fast=5`). */
  series?: string[];
  /** Base URL of the engine's WebSocket (defaults to this page's host). */
  baseUrl?: string;
}

/**
 * One socket per chart: `historical` replaces the series in the store, each `live_candle` is merged.
 * Reconnects with jittered exponential backoff; a fresh `historical` after a reconnect replaces the
 * series. Returns a function that closes the socket and stops every timer.
 */
export function connectEngine(opts: EngineSocketOptions): () => void {
  const base = opts.baseUrl ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
  const seriesParam = opts.series?.length ? `&series=${encodeURIComponent(opts.series.join(','))}` : '';
  const url = `${base}/ws/${encodeURIComponent(opts.symbol)}?interval=${encodeURIComponent(opts.interval)}${seriesParam}`;
  let ws: WebSocket | undefined;
  let attempts = 0;
  let stopped = false;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;

  const open = () => {
    setConnection(attempts === 0 ? 'connecting' : 'reconnecting');
    ws = new WebSocket(url);
    ws.onmessage = (ev) => {
      const msg = typeof ev.data === 'string' ? parseEngineMessage(ev.data) : undefined;
      if (!msg) return;
      switch (msg.type) {
        case 'historical':
          attempts = 0;
          for (const [label, points] of Object.entries(msg.series)) setSeriesPoints(label, msg.symbol, msg.interval, points);
          setCandlesForSymbol(msg.symbol, msg.interval, msg.data);
          market.setState({ lastUpdateAt: Date.now(), error: null });
          setConnection('live');
          break;
        case 'live_candle':
          mergeCandle(msg.symbol, msg.interval, msg.candle);
          if (market.getState().connection === 'stale') setConnection('live');
          break;
        case 'series_point':
          mergeSeriesPoint(msg.name, msg.symbol, msg.interval, msg.point.time, msg.point.values);
          break;
        case 'status':
          setUpstream(msg.upstream, msg.source);
          break;
        case 'error':
          setError(msg.message);
          break;
      }
    };
    ws.onclose = (ev) => {
      ws = undefined;
      if (stopped) return;
      if (ev.code === CLOSE_BAD_REQUEST) {
        setConnection('error');
        return;
      }
      attempts++;
      setConnection('reconnecting');
      const delay = Math.min(10_000, 500 * 2 ** Math.min(attempts - 1, 5)) * (0.5 + Math.random() / 2);
      retryTimer = setTimeout(open, delay);
    };
  };

  const staleTimer = setInterval(() => {
    const s = market.getState();
    if (s.connection === 'live' && Date.now() - s.lastUpdateAt > STALE_AFTER_MS) setConnection('stale');
  }, 1000);

  open();
  return () => {
    stopped = true;
    clearTimeout(retryTimer);
    clearInterval(staleTimer);
    ws?.close(1000, 'switching');
  };
}
