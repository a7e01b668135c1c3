import { errorMessage } from '../domain/wire.ts';
import { pooledBlock } from './address-rate-limit.ts';
import { SendBudget } from './send-budget.ts';
import { SendBufferWatch } from './send-buffer-watch.ts';
import { CLOSE_BAD_REQUEST, CLOSE_TRY_AGAIN } from './ws-close-codes.ts';

/**
 * Most bytes of a socket's first message allowed in its send buffer beyond MAX_BACKPRESSURE_BYTES
 * while it goes out (8 derived series of 720 points and their candles measured 600 KB; 16, twice
 * that). Above it, the allowance stops there.
 */
export const MAX_SNAPSHOT_ALLOWANCE = 16 * 1024 * 1024;
/** A socket whose send buffer has not gone down for this long is closed (see SendBudget). */
export const STUCK_MS = 10_000;
/** MAX_BUFFERED_TOTAL_BYTES's default. */
export const DEFAULT_BUFFERED_TOTAL = 256 * 1024 * 1024;
/** The share of it one client address may hold (see SendBudget). */
export const BUFFERED_ADDRESS_SHARE = 1 / 16;
/** When a first message refused for the send budget may be asked for again (s). */
const BUDGET_RETRY_SEC = 2;

/** What the policy needs of a socket. */
interface Sending {
  readonly buffered: number;
  send(message: string | Buffer, isBinary?: boolean): unknown;
  close(code: number, reason: string): void;
}

export interface SlowClientsConfig<S> {
  /** MAX_BACKPRESSURE_BYTES: one socket's send buffer limit (see SendBufferWatch). */
  maxBackpressureBytes: number;
  /** All sockets' send buffers together (MAX_BUFFERED_TOTAL_BYTES; default DEFAULT_BUFFERED_TOTAL). */
  maxBufferedTotalBytes?: number;
  /** A socket whose send buffer does not go down for this long is closed (default STUCK_MS). */
  stuckMs?: number;
  /** The sockets served: a socket closed by the sweep is taken out. */
  sockets: Set<S>;
  /** `ws` is being closed for not reading (its address's slot is held: address-slots.ts). */
  notReading(ws: S): void;
  /** Counters of the sockets closed (past the backpressure limit, stuck, over the budget) and of first messages refused. */
  slowDropped(): void;
  stuckClosed(): void;
  budgetClosed(): void;
  budgetRefused(): void;
}

/**
 * Slow-client policy: a socket whose send buffer stays past the limit (over it at two sweeps in a
 * row without draining, or past twice it) is closed with 1013 so the client resyncs from a fresh
 * snapshot; uWS's own cap bounds memory in between. A burst a reading client takes in at once (a
 * derived series' points sent again after its rerun) is not a reason. A first message bigger than
 * the limit (many derived series) may stay buffered on top of it until the socket has drained below
 * the limit once: on a slow link it takes a while to go out, and closing the socket for it would
 * only bring the client back for the same snapshot, again and again.
 * Then all sockets together (SendBudget): one holding bytes it does not read is closed after
 * STUCK_MS, and past the node's total, or an address's share, those not draining go, the largest first.
 */
export class SlowClients<S extends Sending> {
  /** Which sockets are too slow to keep (see the sweep). */
  private readonly sendBuffers: SendBufferWatch<S>;
  /** All of them together, and sockets holding bytes without reading. */
  private readonly budget: SendBudget<S>;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly config: SlowClientsConfig<S>) {
    this.sendBuffers = new SendBufferWatch<S>(config.maxBackpressureBytes);
    const totalBuffered = config.maxBufferedTotalBytes ?? DEFAULT_BUFFERED_TOTAL;
    this.budget = new SendBudget<S>(totalBuffered, totalBuffered * BUFFERED_ADDRESS_SHARE, config.stuckMs ?? STUCK_MS);
  }

  /**
   * Sends `ws` (of a client at `address`) its first message when the budget takes it; else tells it
   * why (error server_busy, close 4000) and returns false.
   */
  sendFirst(ws: S, address: string, first: string | Buffer): boolean {
    const bytes = typeof first === 'string' ? Buffer.byteLength(first) : first.length;
    // An IPv6 client's share is its /48's: a site's 65,536 /64s would each have had one.
    const budgetKey = pooledBlock(address) ?? address;
    if (!this.budget.admit(budgetKey, bytes)) {
      this.config.budgetRefused();
      ws.send(errorMessage('this node holds too much unsent data for slow clients: try again shortly', 'server_busy', BUDGET_RETRY_SEC));
      ws.close(CLOSE_BAD_REQUEST, 'busy: try again shortly');
      return false;
    }
    ws.send(first, false);
    this.budget.sent(ws, budgetKey, ws.buffered);
    this.sendBuffers.sentFirst(ws, bytes, MAX_SNAPSHOT_ALLOWANCE);
    return true;
  }

  /** `ws` closed. */
  forget(ws: S): void {
    this.sendBuffers.forget(ws);
    this.budget.forget(ws);
  }

  /** Bytes in all send buffers at the last sweep. */
  get buffered(): number {
    return this.budget.buffered;
  }

  /** Sweeps every 250 ms: closes the sockets the policy says go (1013). */
  start(): void {
    const { config, sendBuffers, budget } = this;
    const { sockets, notReading } = config;
    this.sweeper = setInterval(() => {
      const kept: Array<readonly [S, number]> = [];
      for (const ws of sockets) {
        const buffered = ws.buffered;
        if (!sendBuffers.tooSlow(ws, buffered)) {
          kept.push([ws, buffered]);
          continue;
        }
        config.slowDropped();
        sockets.delete(ws);
        ws.close(CLOSE_TRY_AGAIN, 'too slow: reconnect to resync');
      }
      const { stuck, over } = budget.sweep(kept, Date.now());
      for (const [list, count, why] of [[stuck, config.stuckClosed, 'not reading'], [over, config.budgetClosed, 'too much unsent: reconnect to resync']] as const) {
        for (const ws of list) {
          count();
          if (list === stuck) notReading(ws);
          sockets.delete(ws);
          sendBuffers.forget(ws);
          ws.close(CLOSE_TRY_AGAIN, why);
        }
      }
    }, 250);
    this.sweeper.unref();
  }

  /** Stops the sweep (at shutdown). */
  stop(): void {
    clearInterval(this.sweeper);
  }
}
