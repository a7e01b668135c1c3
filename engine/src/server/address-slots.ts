import type HyperExpress from 'hyper-express';
import { echo } from '../domain/echo.ts';
import { errorMessage } from '../domain/wire.ts';
import { AddressConnections } from './address-connections.ts';
import { IPV6_BLOCK_SHARE, pooledBlock } from './address-rate-limit.ts';
import { HeldSlots } from './held-slots.ts';
import { CLOSE_TRY_AGAIN } from './ws-close-codes.ts';

/** NOT_READING_HOLD_MS's default: about how long the kernel keeps a closed socket's unsent data (see HeldSlots). */
export const NOT_READING_HOLD_MS = 5 * 60_000;

export interface AddressSlotsConfig {
  /** WebSocket connections one client address may hold at once (0 or absent = no limit). */
  maxConnectionsPerAddress?: number;
  /** How long the slot of a socket closed for not reading stays counted (default NOT_READING_HOLD_MS). */
  notReadingHoldMs?: number;
  /** MAX_CONNECTIONS_PER_ADDRESS for the whole cluster (an edge's SharedConnections), asked after this node's own, while the socket is served. */
  shared?: { opened(address: string, count: number): Promise<boolean>; closed(address: string, count: number): void };
  /** Counts connections refused for their address's cap. */
  refused(): void;
}

/**
 * The WebSocket connections a client address holds, capped (MAX_CONNECTIONS_PER_ADDRESS, this node's
 * count then the cluster's); a socket closed for not reading keeps its slot a while (held-slots.ts).
 */
export class AddressSlots {
  private readonly perAddress: AddressConnections;
  // Sockets closed for not reading: their slots stay counted a while (held-slots.ts), with the cap on.
  private readonly notReading = new WeakSet<HyperExpress.Websocket>();
  private readonly heldSlots: HeldSlots;

  constructor(private readonly config: AddressSlotsConfig) {
    this.perAddress = new AddressConnections(config.maxConnectionsPerAddress ?? 0);
    this.heldSlots = new HeldSlots(config.maxConnectionsPerAddress ? (config.notReadingHoldMs ?? NOT_READING_HOLD_MS) : 0);
  }

  /** Whether one more connection from `address` fits (checked again when its socket opens: upgrades race). */
  fits(address: string): boolean {
    return this.perAddress.fits(address);
  }

  /** Why a connection from `address` is refused for its cap. */
  tooMany(address: string): string {
    return `too many connections from ${echo(address, 64)}${pooledBlock(address) ? ` or its /48` : ''} (MAX_CONNECTIONS_PER_ADDRESS=${this.config.maxConnectionsPerAddress}${pooledBlock(address) ? `, ${IPV6_BLOCK_SHARE} times that per /48` : ''})`;
  }

  /**
   * Serves `ws` (`serve`) in a slot of `address`, counted until it closes; refused (error, close 1013)
   * when the address is at its cap, here or, once it answers, in the cluster.
   */
  open(ws: HyperExpress.Websocket, address: string, serve: () => void): void {
    const { perAddress, config } = this;
    if (!perAddress.add(address)) return this.refuse(ws, address);
    // Counted out on close, whenever it comes (also while the cluster's count is asked below).
    let gone = false;
    ws.once('close', () => {
      gone = true;
      const release = () => {
        perAddress.remove(address);
        config.shared?.closed(address, perAddress.count(address));
      };
      if (this.notReading.has(ws)) this.heldSlots.hold(address, release);
      else release();
    });
    serve();
    // The cluster's count (every edge's sockets of the address) is asked while the socket is served,
    // not before: waiting for Redis delayed every first message, and in a burst the answer came after
    // short-lived clients had gone (their series never asked for). Over it, the socket is closed.
    void config.shared?.opened(address, perAddress.count(address)).then((fits) => {
      if (!fits && !gone && !ws.closed) this.refuse(ws, address);
    });
  }

  /** `ws` is being closed for not reading: its slot is held (see HeldSlots). */
  notReadingClosed(ws: HyperExpress.Websocket): void {
    this.notReading.add(ws);
  }

  /** Slots held now for sockets closed for not reading. */
  get held(): number {
    return this.heldSlots.size;
  }

  /** Drops every hold (at shutdown). */
  clear(): void {
    this.heldSlots.clear();
  }

  private refuse(ws: HyperExpress.Websocket, address: string): void {
    this.config.refused();
    ws.send(errorMessage(this.tooMany(address), 'too_many_connections'));
    ws.close(CLOSE_TRY_AGAIN, 'too many connections');
  }
}
