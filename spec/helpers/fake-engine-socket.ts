import { vi } from 'vitest';
import { market } from '../../client/src/store/market.ts';

/** What the fake server does with each new socket (once it is open, in a microtask). */
export type Serve = (ws: FakeSocket) => void;

/** A browser WebSocket stand-in for the web client's feed: the test plays the engine. */
export class FakeSocket {
  static made: FakeSocket[] = [];
  static serve: Serve = () => undefined;
  /** false: a new socket hangs while connecting (a network that drops packets) until `accept`. */
  static autoOpen = true;
  readonly at = Date.now();
  readyState = 0;
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.made.push(this);
    if (FakeSocket.autoOpen) queueMicrotask(() => this.accept());
  }
  accept() {
    if (this.readyState !== 0) return;
    this.readyState = 1;
    this.onopen?.();
    FakeSocket.serve(this);
  }
  /** The engine sends a message (an object is sent as its JSON); a browser dispatches none once the socket is not open. */
  send(msg: unknown) {
    if (this.readyState !== 1) return;
    this.onmessage?.({ data: typeof msg === 'string' ? msg : JSON.stringify(msg) });
  }
  /** The server closes: the client's onclose runs. */
  drop(code: number) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code });
  }
  /** The client closes: its onclose comes after, as a browser's does (a switch or a reopen detached it first). A socket still connecting fails with 1006. */
  close(code = 1000) {
    if (this.readyState === 3) return;
    const connecting = this.readyState === 0;
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.({ code: connecting ? 1006 : code }));
  }
}

/** The window's listeners the feed adds (`online`). */
export const listeners: Record<string, () => void> = {};

/** Fake timers, a fixed jitter, the fake socket, and the store's connection state reset. */
export function setUpFakeEngine(): void {
  vi.useFakeTimers();
  vi.spyOn(Math, 'random').mockReturnValue(1);
  FakeSocket.made = [];
  FakeSocket.serve = () => undefined;
  FakeSocket.autoOpen = true;
  for (const k of Object.keys(listeners)) delete listeners[k];
  vi.stubGlobal('WebSocket', FakeSocket);
  vi.stubGlobal('addEventListener', (type: string, fn: () => void) => (listeners[type] = fn));
  vi.stubGlobal('removeEventListener', (type: string) => delete listeners[type]);
  market.setState({ connection: 'connecting', error: null, positionByKey: {}, candlesByKey: {} });
}

export function tearDownFakeEngine(): void {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  vi.useRealTimers();
}
