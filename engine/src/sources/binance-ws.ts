import { Observable, merge } from 'rxjs';
import WebSocket from 'ws';
import type { Bar } from '../domain/bar.ts';
import { MalformedFrameError } from '../domain/errors.ts';
import { parseStreamFrame } from './binance-raw.ts';
import { ConnectLimiter } from './connect-limiter.ts';

/** Binance's limit of streams on one connection. */
export const MAX_STREAMS_PER_CONNECTION = 1024;

export type UpstreamEvent =
  /** `eventTime` is the exchange's `E`: its clock when it sent the event. */
  | { type: 'kline'; symbol: string; interval: string; bar: Bar; receivedAt: number; eventTime: number }
  /** A shard is (re)connected. After a reconnect (not a rotation) its series must be re-synced from REST. */
  | { type: 'connected'; shard: number; streams: readonly string[]; resync: boolean }
  | { type: 'disconnected'; shard: number; reason: string };

export interface BinanceWsOptions {
  wsUrl: string;
  streams: readonly string[];
  maxStreamsPerConnection?: number;
  staleAfterMs: number;
  rotateAfterMs: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  limiter?: ConnectLimiter;
  now?: () => number;
  onMalformed?: (err: MalformedFrameError) => void;
  /** Every text frame as received (metrics, recording). */
  onFrame?: (text: string, receivedAt: number) => void;
  log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

/**
 * The combined kline stream as one Observable, sharded into connections of at most 1024 streams.
 * Each shard reconnects with jittered exponential backoff (attempts rate-limited for the whole process),
 * replaces a connection that has gone quiet, and rotates make-before-break before Binance's 24 h cut
 * and on `serverShutdown`. Malformed frames are counted and skipped. Unsubscribing closes every socket.
 */
export function binanceKlines$(opts: BinanceWsOptions): Observable<UpstreamEvent> {
  const size = opts.maxStreamsPerConnection ?? MAX_STREAMS_PER_CONNECTION;
  const limiter = opts.limiter ?? new ConnectLimiter();
  const shards: Observable<UpstreamEvent>[] = [];
  for (let i = 0; i * size < opts.streams.length; i++) {
    shards.push(shard$(i, opts.streams.slice(i * size, (i + 1) * size), opts, limiter));
  }
  return merge(...shards);
}

function shard$(index: number, streams: readonly string[], opts: BinanceWsOptions, limiter: ConnectLimiter): Observable<UpstreamEvent> {
  return new Observable<UpstreamEvent>((subscriber) => {
    const now = opts.now ?? Date.now;
    const url = `${opts.wsUrl}/stream?streams=${streams.join('/')}`;
    const ac = new AbortController();
    let current: WebSocket | undefined;
    let everConnected = false;
    let failures = 0;
    let lastFrameAt = now();
    let reconnectTimer: NodeJS.Timeout | undefined;
    let rotating = false;
    const sockets = new Set<WebSocket>();
    const staleTimer = setInterval(() => {
      if (current && now() - lastFrameAt > opts.staleAfterMs) {
        opts.log?.('warn', 'upstream connection stale, replacing', { shard: index, silentMs: now() - lastFrameAt });
        const stale = current;
        current = undefined;
        stale.terminate();
        onDown('stale');
      }
    }, Math.max(250, Math.min(5000, opts.staleAfterMs / 4)));

    const onDown = (reason: string) => {
      if (ac.signal.aborted) return;
      subscriber.next({ type: 'disconnected', shard: index, reason });
      failures++;
      const base = Math.min(opts.backoffMaxMs ?? 30_000, (opts.backoffInitialMs ?? 500) * 2 ** Math.min(failures - 1, 16));
      clearTimeout(reconnectTimer);
      reconnectTimer = setTimeout(() => void dial(false), base * (0.5 + Math.random() / 2));
    };

    /** Opens a socket. In a rotation the old socket keeps delivering until the new one has a frame. */
    const dial = async (rotation: boolean): Promise<void> => {
      try {
        await limiter.acquire(ac.signal);
      } catch {
        return; // aborted
      }
      if (ac.signal.aborted) return;
      const ws = new WebSocket(url, { handshakeTimeout: 10_000, perMessageDeflate: false });
      sockets.add(ws);
      let live = false;
      let rotateTimer: NodeJS.Timeout | undefined;
      const promote = () => {
        // First frame on the new socket: it becomes current, the old one (if rotating) goes.
        live = true;
        const old = current;
        current = ws;
        failures = 0;
        if (old && old !== ws) old.close(1000, 'rotated');
        rotating = false;
        rotateTimer = setTimeout(() => rotate('age'), opts.rotateAfterMs);
      };
      const rotate = (why: string) => {
        if (rotating || ac.signal.aborted || current !== ws) return;
        rotating = true;
        opts.log?.('info', 'rotating upstream connection (make-before-break)', { shard: index, why });
        void dial(true);
      };
      ws.on('open', () => {
        opts.log?.('info', 'upstream connected', { shard: index, streams: streams.length, rotation });
        if (!rotation) {
          subscriber.next({ type: 'connected', shard: index, streams, resync: everConnected });
          everConnected = true;
          promote();
        }
      });
      ws.on('message', (data, isBinary) => {
        if (ac.signal.aborted) return;
        lastFrameAt = now();
        if (!live) promote();
        // During a rotation both sockets deliver briefly; the gap operator drops the duplicates.
        const text = isBinary ? '' : data.toString();
        opts.onFrame?.(text, lastFrameAt);
        try {
          const frame = parseStreamFrame(text);
          if (frame.kind === 'kline') {
            subscriber.next({ type: 'kline', symbol: frame.symbol, interval: frame.interval, bar: frame.bar, receivedAt: lastFrameAt, eventTime: frame.eventTime });
          } else if (frame.kind === 'shutdown') rotate('serverShutdown');
        } catch (e) {
          if (e instanceof MalformedFrameError) opts.onMalformed?.(e);
          else throw e;
        }
      });
      ws.on('error', (err) => opts.log?.('warn', 'upstream socket error', { shard: index, err: err.message }));
      ws.on('close', (code) => {
        sockets.delete(ws);
        clearTimeout(rotateTimer);
        if (current === ws) {
          current = undefined;
          onDown(`closed ${code}`);
        } else if (rotation && !live) {
          rotating = false; // the replacement failed before delivering; the old socket stays current
        } else if (!current && !live) onDown(`connect failed ${code}`);
      });
    };

    void dial(false);
    return () => {
      ac.abort();
      clearInterval(staleTimer);
      clearTimeout(reconnectTimer);
      for (const ws of sockets) ws.terminate();
    };
  });
}
