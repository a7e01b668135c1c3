import { klineStreamName } from '../sources/binance-raw.ts';
import { frameStreamName } from './frame-stream-name.ts';
import type { RecordedStream } from './recorded-series.ts';

/** The longest a frame waits for the engine to subscribe its stream before it plays anyway (a replay never hangs on it). */
export const LATE_STREAM_WAIT_MS = 5000;

/**
 * The engine's answer to a stream starting: true when it subscribes it (the stream's first frame waits
 * for that, unless it is subscribed already). Asked at every late stream's first frame: the engine
 * takes its series then, whether or not a client of the replay has it open.
 */
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
 *
 * `starting` is asked even when a connection has the stream subscribed already (a client of the replay
 * opened the symbol before its first recorded frame): that client's series is freed once it goes idle,
 * and the replay's would not be held, so the frames after were dropped. What is subscribed is tracked
 * per connection, SUBSCRIBE and UNSUBSCRIBE, and a closed connection's streams are forgotten: a stream
 * subscribed once and left since does not let its first frame go unheld.
 */
export class LateStreams {
  /** By the name their frames carry; a stream leaves once its first frame was admitted. */
  private readonly pending: Map<string, RecordedStream>;
  /** Streams each open connection has subscribed and not unsubscribed since (the engine's spelling, `btcusdt@kline_1m`). */
  private readonly subscribed = new Map<object, Set<string>>();
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
    // Asked first, subscribed or not: the engine holds the series for the replay from here.
    if (!this.ask(s.symbol, s.interval) || this.isSubscribed(stream)) return true;
    this.held = { stream, timer: setTimeout(() => this.release(), this.waitMs) };
    return false;
  }

  /** `connection` subscribed `streams`: a frame held for one of them goes. */
  subscribe(connection: object, streams: readonly string[]): void {
    let own = this.subscribed.get(connection);
    if (!own) this.subscribed.set(connection, (own = new Set()));
    for (const s of streams) own.add(s);
    if (this.held && streams.includes(this.held.stream)) this.release();
  }

  /** `connection` unsubscribed `streams`. */
  unsubscribe(connection: object, streams: readonly string[]): void {
    const own = this.subscribed.get(connection);
    if (own) for (const s of streams) own.delete(s);
  }

  /** `connection` closed: what it subscribed is gone with it. */
  disconnected(connection: object): void {
    this.subscribed.delete(connection);
  }

  private isSubscribed(stream: string): boolean {
    for (const own of this.subscribed.values()) if (own.has(stream)) return true;
    return false;
  }

  /** The engine's answer; one that throws counts as no (this runs in the player's timer, which must go on). */
  private ask(symbol: string, interval: string): boolean {
    try {
      return this.starting?.(symbol, interval) ?? false;
    } catch {
      return false;
    }
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
