import WebSocket from 'ws';

/** The `k` of a Binance kline event, as the simulator sends it. */
export interface KlinePayload {
  t: number;
  T: number;
  s: string;
  i: string;
  f: number;
  L: number;
  o: string;
  c: string;
  h: string;
  l: string;
  v: string;
  n: number;
  x: boolean;
  q: string;
  V: string;
  Q: string;
  B: string;
}
export interface KlineEvent {
  e: 'kline';
  E: number;
  s: string;
  k: KlinePayload;
}

/** A plain `ws` client of the simulator that records every text frame, the close and any error. */
export class StreamClient {
  readonly texts: string[] = [];
  closeCode: number | undefined;
  error: Error | undefined;
  readonly ws: WebSocket;
  private waiters: Array<() => void> = [];

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (data) => {
      this.texts.push(data.toString());
      this.wake();
    });
    this.ws.on('close', (code) => {
      this.closeCode = code;
      this.wake();
    });
    this.ws.on('error', (e) => {
      this.error = e;
      this.wake();
    });
    this.ws.on('open', () => this.wake());
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Every frame that parses as JSON; garbage frames come out as undefined. */
  messages(): unknown[] {
    return this.texts.map((t) => {
      try {
        return JSON.parse(t) as unknown;
      } catch {
        return undefined;
      }
    });
  }

  /** Kline events of a stream: from combined envelopes with that name, or bare events of that symbol/interval. */
  klines(stream: string): KlineEvent[] {
    const out: KlineEvent[] = [];
    for (const m of this.messages()) {
      if (typeof m !== 'object' || m === null) continue;
      const env = m as { stream?: unknown; data?: unknown };
      const event = (env.stream !== undefined ? (env.stream === stream ? env.data : undefined) : m) as KlineEvent | undefined;
      if (event?.e !== 'kline' || typeof event.k?.t !== 'number' || !/^\d/.test(event.k.o)) continue;
      if (env.stream === undefined && `${event.s.toLowerCase()}@kline_${event.k.i}` !== stream.replace(/@\+08:00$/, '')) continue;
      out.push(event);
    }
    return out;
  }

  send(body: unknown): void {
    this.ws.send(typeof body === 'string' ? body : JSON.stringify(body));
  }

  /** Resolves when `pred` holds; rejects after `timeoutMs` with what was awaited. */
  async until(pred: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; ${this.texts.length} frames, close ${this.closeCode}, error ${this.error?.message}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The reply to a control message with this id. */
  async reply(id: unknown, timeoutMs = 3000): Promise<Record<string, unknown>> {
    const find = () => this.messages().find((m) => typeof m === 'object' && m !== null && 'id' in m && (m as { id: unknown }).id === id) as Record<string, unknown> | undefined;
    await this.until(() => find() !== undefined, timeoutMs, `reply ${String(id)}`);
    return find()!;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  close(): void {
    this.ws.terminate();
  }
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
