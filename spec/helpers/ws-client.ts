import WebSocket from 'ws';
import type { WireCandle } from '../../engine/src/domain/wire.ts';

export type { WireCandle };

/** Issue 13 positions, on historical, live_candle, series_point and recovered. */
export interface WirePosition {
  epoch?: string;
  offset?: number;
  /** live_candle: when the engine sent it. */
  at?: number;
}

export type EngineMessage =
  | ({ type: 'historical'; symbol: string; interval: string; data: WireCandle[]; recovered?: false } & WirePosition)
  | ({ type: 'recovered'; symbol: string; interval: string; data: WireCandle[] } & Required<WirePosition>)
  | ({ type: 'live_candle'; symbol: string; interval: string } & WireCandle & WirePosition)
  | { type: 'status'; upstream: string; source: string }
  | { type: 'error'; message: string; code?: string }
  | { type: 'loading'; symbol: string; interval: string };

/** A test client of the engine's /ws/:symbol endpoint that records every message and the close. */
export class EngineClient {
  readonly messages: EngineMessage[] = [];
  closeCode: number | undefined;
  private readonly ws: WebSocket;
  private waiters: Array<() => void> = [];

  constructor(url: string, options?: WebSocket.ClientOptions) {
    this.ws = new WebSocket(url, options);
    this.ws.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()) as EngineMessage);
      this.wake();
    });
    this.ws.on('close', (code) => {
      this.closeCode = code;
      this.wake();
    });
    this.ws.on('error', () => this.wake());
  }

  /** Sends a text message (the protocol has none from clients: what the engine does with them). */
  send(text: string): void {
    this.ws.send(text);
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `pred` holds over the messages so far; rejects after `timeoutMs`. */
  async until(pred: (c: EngineClient) => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${this.messages.length} messages, close ${this.closeCode}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  historical() {
    return this.messages.find((m): m is Extract<EngineMessage, { type: 'historical' }> => m.type === 'historical');
  }

  live() {
    return this.messages.filter((m): m is Extract<EngineMessage, { type: 'live_candle' }> => m.type === 'live_candle');
  }

  /** The series as a browser would hold it: historical, then every live candle merged by time. */
  merged(): WireCandle[] {
    const byTime = new Map<number, WireCandle>();
    for (const c of this.historical()?.data ?? []) byTime.set(c.time, c);
    for (const m of this.live()) {
      const { type: _t, symbol: _s, interval: _i, epoch: _e, offset: _o, at: _a, ...c } = m;
      byTime.set(c.time, c);
    }
    return [...byTime.values()].sort((a, b) => a.time - b.time);
  }

  pause() {
    this.ws.pause();
  }

  /** An unprompted pong (a client that reads nothing may still write). */
  pong(payload = '') {
    this.ws.pong(payload);
  }

  close() {
    this.ws.terminate();
  }
}
