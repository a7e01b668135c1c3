import { TokenBucket } from '../domain/token-bucket.ts';

/** The burst of new connections with MAX_CLIENTS off. */
const DEFAULT_CONNECT_BURST = 5000;
/** When a connection refused for MAX_CLIENTS may try again (s). */
export const FULL_RETRY_SEC = 5;

/** Why a new WebSocket is refused for the node as a whole (every address together). */
export interface NodeRefusal {
  readonly code: 'server_full' | 'server_busy';
  readonly error: string;
  readonly retryAfterSec: number;
}

/**
 * The node's own bounds on WebSockets, whatever address they come from (the per-address ones hold
 * nothing against many addresses): at most `maxClients` open (each costs memory, a ping a round and
 * a write per update of its series: 16,000 on one symbol held the event loop 162-411 ms at a time
 * when a push went to all in one pass, 9-97 ms in shards, topic-shards.ts), and at most `perSecond` new ones a second after a burst of `maxClients`, so
 * every client of a lost node may come back at once (each costs an upgrade, a first message and a
 * close: 2,000 a second from 250,000 addresses held the event loop 1-2 s at a time). 0 = no bound.
 */
export class NodeAdmission {
  private readonly connects: TokenBucket | undefined;

  constructor(
    private readonly maxClients: number,
    private readonly perSecond: number,
    private readonly open: () => number,
    now?: () => number,
  ) {
    this.connects = perSecond > 0 ? new TokenBucket(perSecond, Math.max(maxClients || DEFAULT_CONNECT_BURST, perSecond), now) : undefined;
  }

  /** Whether the node holds `maxClients` already (checked again when a socket opens: upgrades race). */
  full(): NodeRefusal | undefined {
    if (!(this.maxClients > 0 && this.open() >= this.maxClients)) return undefined;
    return { code: 'server_full', error: `this node serves ${this.maxClients} connections already (MAX_CLIENTS): try again shortly, or another node`, retryAfterSec: FULL_RETRY_SEC };
  }

  /** A new connection's refusal, if any: full first (a full node spends none of the rate). */
  admit(): NodeRefusal | undefined {
    const full = this.full();
    if (full) return full;
    if (!this.connects || this.connects.take()) return undefined;
    return { code: 'server_busy', error: `this node takes ${this.perSecond} new connections a second (MAX_CONNECTS_PER_SECOND): try again shortly`, retryAfterSec: 1 };
  }
}
