import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { monoUs } from '../lib/clock.ts';
import { latencyKey } from '../lib/latency-key.ts';

interface KlineData {
  e: 'kline';
  E: number;
  s: string;
  k: { t: number; s: string; i: string; c: string; v: string; x: boolean; [f: string]: unknown };
  [f: string]: unknown;
}

interface StreamState {
  latest: KlineData | undefined;
  /** Open time of the last candle whose final (x=true) frame was forwarded. */
  closedAt: number | undefined;
  /** Synthetic updates emitted for the forming candle (makes each one's volume unique). */
  seq: number;
  /** Pacer slots consumed since the rate was set. */
  paced: number;
}

interface Link {
  down: WebSocket;
  up: WebSocket;
  streams: Map<string, StreamState>;
}

export interface PacingRelayOptions {
  /** The simulator's WebSocket base URL (ws://host:port). */
  upstreamWsUrl: string;
  host?: string;
  /** Called for every kline frame written to a downstream socket, with its key and send time (µs, monotonic). */
  onSend?: (key: string, sentUs: number) => void;
}

/**
 * A Binance-protocol WebSocket endpoint in front of the simulator that sets the update rate per stream.
 * Every downstream connection gets its own upstream connection with the same path: `/stream?streams=`
 * (reference servers) or the bare `/stream` the engine's shards open, whose SUBSCRIBE/UNSUBSCRIBE
 * messages go up as text and whose replies come back unchanged; a subscribed stream is paced from the
 * simulator's first frame of it.
 * The simulator's frames that open or close a candle are forwarded at once, unchanged; between them,
 * a pacer emits R updates per second per stream: the simulator's latest state of the forming candle
 * with its volume nudged by 1e-8 per update, so every update is distinct (an engine that drops
 * duplicates still forwards each one) and identifiable for latency.
 */
export class PacingRelay {
  private readonly wss: WebSocketServer;
  private readonly links = new Set<Link>();
  private rate = 0;
  private pacer: NodeJS.Timeout | undefined;
  private paceStart = 0;
  readonly sent = new Map<string, number>();

  private constructor(
    private readonly opts: PacingRelayOptions,
    wss: WebSocketServer,
  ) {
    this.wss = wss;
    wss.on('connection', (down, req) => this.accept(down, req));
  }

  static async start(opts: PacingRelayOptions): Promise<PacingRelay> {
    const wss = new WebSocketServer({ host: opts.host ?? '127.0.0.1', port: 0, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      wss.once('listening', resolve);
      wss.once('error', reject);
    });
    return new PacingRelay(opts, wss);
  }

  get url(): string {
    const a = this.wss.address() as AddressInfo;
    return `ws://${a.address}:${a.port}`;
  }

  /** Updates per second per stream emitted between the simulator's own candle open/close frames. */
  setRate(perStream: number): void {
    this.rate = Math.max(0, perStream);
    clearInterval(this.pacer);
    this.pacer = undefined;
    this.paceStart = performance.now();
    for (const l of this.links) for (const st of l.streams.values()) st.paced = 0;
    if (this.rate === 0) return;
    const streams = Math.max(1, ...[...this.links].map((l) => l.streams.size));
    const periodMs = Math.max(1, Math.min(25, Math.floor(1000 / (this.rate * streams))));
    this.pacer = setInterval(() => this.pace(), periodMs);
  }

  resetCounts(): void {
    this.sent.clear();
  }

  async close(): Promise<void> {
    clearInterval(this.pacer);
    for (const l of this.links) {
      l.up.terminate();
      l.down.terminate();
    }
    await new Promise<void>((r) => this.wss.close(() => r()));
  }

  /**
   * Emits what is due per stream. Streams are staggered evenly over the period (stream j of S at
   * phase j/S), as an exchange's streams are not all pushed in the same millisecond; after a stall a
   * stream catches up by at most 50 ms worth, so a hiccup is not followed by a burst.
   */
  private pace(): void {
    const ticks = (this.rate * (performance.now() - this.paceStart)) / 1000;
    const cap = Math.max(1, Math.ceil(this.rate / 20));
    for (const link of this.links) {
      const size = link.streams.size;
      let j = 0;
      for (const [stream, st] of link.streams) {
        const due = Math.floor(ticks + j++ / size) - st.paced;
        if (due <= 0) continue;
        st.paced += due;
        if (!st.latest || st.latest.k.x) continue; // a closed candle gets no more updates
        for (let i = 0; i < Math.min(due, cap); i++) {
          st.seq++;
          const k = st.latest.k;
          const data = { ...st.latest, E: Date.now(), k: { ...k, v: (Number(k.v) + st.seq * 1e-8).toFixed(8) } };
          this.send(link, stream, JSON.stringify({ stream, data }), data);
        }
      }
    }
  }

  private send(link: Link, stream: string, text: string, data: KlineData): void {
    if (link.down.readyState !== WebSocket.OPEN) return;
    const at = monoUs();
    link.down.send(text);
    this.sent.set(stream, (this.sent.get(stream) ?? 0) + 1);
    this.opts.onSend?.(latencyKey(data.k.s, data.k.i, data.k.t, Number(data.k.c), Number(data.k.v)), at);
  }

  private accept(down: WebSocket, req: IncomingMessage): void {
    const path = req.url ?? '/';
    const streams = new URL(path, 'ws://x').searchParams.get('streams')?.split('/').filter(Boolean) ?? [];
    const up = new WebSocket(`${this.opts.upstreamWsUrl}${path}`, { perMessageDeflate: false });
    const link: Link = { down, up, streams: new Map(streams.map((s) => [s, { latest: undefined, closedAt: undefined, seq: 0, paced: 0 }])) };
    this.links.add(link);
    // Control messages (SUBSCRIBE…) go up as they came: text stays text (ws hands it over as a Buffer).
    const early: Array<[WebSocket.RawData, boolean]> = [];
    up.on('open', () => {
      for (const [m, binary] of early.splice(0)) up.send(m, { binary });
    });
    down.on('message', (m, binary) => (up.readyState === WebSocket.OPEN ? up.send(m, { binary }) : early.push([m, binary])));
    up.on('message', (raw, isBinary) => this.fromUpstream(link, raw.toString(), isBinary));
    const drop = () => {
      this.links.delete(link);
      up.terminate();
      down.terminate();
    };
    up.on('close', drop);
    down.on('close', drop);
    up.on('error', drop);
    down.on('error', drop);
  }

  private fromUpstream(link: Link, text: string, isBinary: boolean): void {
    let msg: { stream?: string; data?: KlineData };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      return void link.down.send(text, { binary: isBinary });
    }
    const data = msg.data;
    if (!msg.stream || data?.e !== 'kline') return void link.down.send(text, { binary: isBinary });
    let st = link.streams.get(msg.stream);
    if (!st) {
      st = { latest: undefined, closedAt: undefined, seq: 0, paced: 0 };
      link.streams.set(msg.stream, st); // a stream added by SUBSCRIBE
    }
    const opens = !st.latest || st.latest.k.t !== data.k.t;
    if (data.k.x) {
      st.latest = data;
      if (st.closedAt === data.k.t) return;
      st.closedAt = data.k.t;
      this.send(link, msg.stream, text, data);
    } else if (opens) {
      if (st.latest && st.latest.k.t > data.k.t) return; // never step back
      st.latest = data;
      st.seq = 0;
      this.send(link, msg.stream, text, data);
    } else if (!st.latest!.k.x) {
      // Same forming candle: the pacer carries it on; keep the volume monotonic for the nudges.
      st.latest = data;
    }
  }
}
