import { klineStreamName } from '../sources/binance-raw.ts';
import { frameStreamName } from './frame-stream-name.ts';
import type { RecordedStream } from './recorded-series.ts';

/** The longest a frame waits for the engine to subscribe its stream before it plays anyway (a replay never hangs on it). */
export const LATE_STREAM_WAIT_MS = 5000;

/** The engine's answer to a stream starting: true when it subscribes it (the stream's first frame waits for that). */
export type StreamStarting = (symbol: string, interval: string) => boolean;

/**
 * Streams the live run started partway through its recording (on-demand series: a client asked for a
 * symbol the engine did not keep), each held at its first frame until the engine has subscribed it.
 * Live, their frames came once the engine had subscribed them; a replay sends every frame to every
 * socket, and the engine drops a kline of a stream it did not subscribe, so a replay lost them all and
 * served none of those symbols. Now `starting` (the engine's) is asked once per stream, just before
 * its first frame, as the live run's client asked then; the frame waits for the SUBSCRIBE (at most
 * `waitMs`), so the series gets what the live run got, whenever a client of the replay asks for it.
 * Without `starting` (an exchange nobody runs an engine on) every frame goes at once.
 */
export class LateStreams {
  /** By the name their frames carry; a stream leaves once its first frame was admitted. */
  private readonly pending: Map<string, RecordedStream>;
  /** Streams some connection has subscribed (the engine's spelling, `btcusdt@kline_1m`). */
  private readonly subscribed = new Set<string>();
  private held?: { stream: string; timer: NodeJS.Timeout };
  private waiters: Array<() => void> = [];
  starting?: StreamStarting;

  constructor(
    streams: readonly RecordedStream[],
    private readonly waitMs = LATE_STREAM_WAIT_MS,
  ) {
    this.pending = new Map(streams.map((s) => [s.name, s]));
  }

  /** Whether a frame is held now, waiting for its stream's SUBSCRIBE. */
  get holding(): boolean {
    return this.held !== undefined;
  }

  /** Whether the frame may be sent now; false: it is held, and `released()` says when it may. */
  admit(text: string): boolean {
    if (this.held) return false;
    if (this.pending.size === 0) return true;
    const name = frameStreamName(text);
    const s = name === undefined ? undefined : this.pending.get(name);
    if (!s) return true;
    this.pending.delete(s.name);
    const stream = klineStreamName(s.symbol, s.interval);
    if (this.subscribed.has(stream) || !this.starting?.(s.symbol, s.interval)) return true;
    this.held = { stream, timer: setTimeout(() => this.release(), this.waitMs) };
    return false;
  }

  /** A connection subscribed `streams`: a frame held for one of them goes. */
  subscribe(streams: readonly string[]): void {
    for (const s of streams) this.subscribed.add(s);
    if (this.held && streams.includes(this.held.stream)) this.release();
  }

  /** Resolves once no frame is held. */
  released(): Promise<void> {
    if (!this.held) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Lets a held frame go (the replay closes, or it waited `waitMs`). */
  release(): void {
    if (!this.held) return;
    clearTimeout(this.held.timer);
    this.held = undefined;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
