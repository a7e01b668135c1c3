import WebSocket from 'ws';
import { TokenBucket } from '../domain/token-bucket.ts';
import type { ControlMethod } from './ws-control.ts';

/** Largest upstream frame taken (a bigger one closes the socket 1009). */
export const MAX_FRAME_BYTES = 1 << 20;

/** One socket of a shard and what it was asked to deliver. */
export interface ShardConn {
  readonly ws: WebSocket;
  readonly rotation: boolean;
  readonly pacer: TokenBucket;
  open: boolean;
  /**
   * Streams the exchange may hold: a SUBSCRIBE was sent for them (answered or not) and no UNSUBSCRIBE
   * since, or their last request went unanswered. What the socket has room for is counted from it.
   */
  readonly requested: Set<string>;
  /**
   * Requested streams whose SUBSCRIBE is to be sent again: found silent (checkStreams), or their last
   * request got no reply (applied or not, no one knows). They stay in `requested`, as the exchange may
   * hold them: taken out, they were counted as room, and a new stream's SUBSCRIBE went out with the
   * exchange still holding them (one too many: error 4, close 1008); one no longer wanted then was
   * never unsubscribed. No longer wanted, they get their UNSUBSCRIBE instead.
   */
  readonly again: Set<string>;
  /**
   * Streams whose UNSUBSCRIBE is not answered yet: their last frames are still due, and dropped quietly.
   * One whose UNSUBSCRIBE was given up on (MAX_ATTEMPTS) stays here and in `requested` until the socket
   * is replaced: the exchange may hold it, so it takes a place and its frames are dropped quietly.
   */
  readonly leaving: Set<string>;
  readonly inflight: Map<number, { method: ControlMethod; params: string[]; again: boolean; timer: NodeJS.Timeout; attempt: number }>;
  /**
   * Failed attempts so far per stream whose last request failed, counted for that request's method
   * (bounded by the shard's streams): a stream's failed SUBSCRIBEs leave its UNSUBSCRIBE its own tries.
   */
  readonly attempts: Map<string, { method: ControlMethod; n: number }>;
  /** The HTTP status the exchange refused the handshake with, if it did. */
  refused?: number;
  /** A kline came on it: the exchange works (an open alone is not proof: one may close each socket at once). */
  delivered?: boolean;
  /** When anything (a frame or the exchange's ping) last came on it: the socket is alive. */
  heardAt: number;
  pumpTimer: NodeJS.Timeout | undefined;
  holdUntil: number;
  rotateTimer: NodeJS.Timeout | undefined;
  /** A failed replacement's retry (rotationFailed); the age timer stays. */
  retryTimer?: NodeJS.Timeout;
  /** It was the shard's current socket (a rotation's, once it took over). */
  tookOver?: boolean;
}

/** Dials the bare `/stream` endpoint of `wsUrl`: a socket with nothing asked of it yet, its sends paced at `sendsPerSecond`. */
export function openShardConn(wsUrl: string, rotation: boolean, sendsPerSecond: number, now: () => number): ShardConn {
  // A kline frame is under 1 KB and a reply listing 1,024 streams about 30 KB: ws's default cap (100 MiB) let one frame take 450 MB.
  const ws = new WebSocket(`${wsUrl}/stream`, { handshakeTimeout: 10_000, perMessageDeflate: false, maxPayload: MAX_FRAME_BYTES });
  return {
    ws,
    rotation,
    pacer: new TokenBucket(sendsPerSecond, 1, now),
    open: false,
    requested: new Set(),
    again: new Set(),
    leaving: new Set(),
    inflight: new Map(),
    attempts: new Map(),
    heardAt: now(),
    pumpTimer: undefined,
    holdUntil: 0,
    rotateTimer: undefined,
  };
}

/** Clears the socket's timers and its requests in flight; it counts as closed. */
export function disposeConn(c: ShardConn): void {
  clearTimeout(c.pumpTimer);
  clearTimeout(c.rotateTimer);
  clearTimeout(c.retryTimer);
  for (const r of c.inflight.values()) clearTimeout(r.timer);
  c.inflight.clear();
  c.open = false;
}

/** It may hold a stream whose UNSUBSCRIBE was given up on (see ControlPump's `failed`). */
export function holdsGivenUp(c: ShardConn): boolean {
  for (const s of c.leaving) if (c.requested.has(s)) return true;
  return false;
}

