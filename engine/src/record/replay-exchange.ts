import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { isUniverse } from '../config/config.ts';
import { REPLAY_ASKED_AT_HEADER } from '../sources/binance-rest.ts';
import { fileChunks } from './file-chunks.ts';
import { FrameSource } from './frame-source.ts';
import { LateStreams, type StreamStarting } from './late-streams.ts';
import { openRecording } from './open-recording.ts';
import { recordedFrames } from './recorded-frames.ts';

export type ReplaySpeed = number | 'max';

/** Binance's: every connection is pinged this often (default of `pingIntervalMs`). */
const PING_INTERVAL_MS = 20_000;
/** Frames sent in one turn at most, then the event loop runs (REST, the engine's own work in-process). */
const MAX_FRAMES_PER_TURN = 500;

export interface ReplayExchange {
  readonly restUrl: string;
  readonly wsUrl: string;
  /**
   * The symbols the live run kept (its configured ones): the meta line's, or, recorded with SYMBOLS=*,
   * every symbol the recording holds bars of.
   */
  readonly symbols: string[];
  /** Every symbol the replay can serve: those, and the ones the live run opened on demand (sorted). */
  readonly heldSymbols: string[];
  readonly intervals: string[];
  /** When the recording began (the meta line's `t`): it names the replay's Redis namespace. */
  readonly recordedAt: number;
  /** Open time of the oldest bar the recording holds of a native series; undefined when it holds none. */
  firstBar(symbol: string, interval: string): number | undefined;
  /**
   * The engine's part in playing the live run's on-demand streams (late-streams.ts): asked just before
   * the first frame of each, true when it subscribes it. Set before the engine connects.
   */
  onStreamStart(starting: StreamStarting): void;
  /** The recording's clock: the receive time of the last frame played. */
  now(): number;
  /** Resolves when every recorded frame has been sent. */
  readonly done: Promise<void>;
  readonly stats: {
    framesSent: number;
    restAnswered: number;
    restFromIndex: number;
    malformedLines: number;
    /** Most frames held in memory at once: the read-ahead, never the recording. */
    readonly framesHeldMax: number;
  };
  /** The recording was cut short (its recorder killed): why, and how many lines were read before the cut. */
  readonly endedEarly?: { reason: string; lines: number };
  close(): Promise<void>;
}

/**
 * Plays a recording back through Binance's protocol on loopback, so the engine consumes it exactly as
 * it consumed the exchange: REST questions get the recorded answers (same question, same answer, in
 * order; a question never asked while recording is answered from every kline row the recording holds),
 * and the recorded frames are streamed in order at 1x, Nx or maximum speed.
 *
 * The file is read twice (so it must be a regular file): first through (`openRecording`: the REST
 * answers kept, the frames only counted), then the frames again as they play, read at most
 * `readAhead` ahead, so memory holds the REST answers and a few thousand frames, whatever the
 * recording's length. Every connection is pinged each `pingIntervalMs` (20 s, as Binance does), also
 * after the last frame, so the engine keeps its connection to a replay that has ended.
 *
 * Its symbols are every one the recording holds bars of (`heldSymbols`), the configured ones first
 * (`symbols`: the meta line's, or all of them for `*`); the first frame of a stream the live run opened
 * on demand waits until the engine subscribes it too (late-streams.ts).
 */
export async function startReplayExchange(opts: { file: string; speed: ReplaySpeed; host?: string; readAhead?: number; pingIntervalMs?: number }): Promise<ReplayExchange> {
  const { fh, meta, answers, series, lines, malformed, endedEarly, frames: frameCount } = await openRecording(opts.file);
  const symbols = isUniverse(meta.symbols) ? series.symbols() : meta.symbols;
  const kept = new Set(symbols);
  const heldSymbols = [...new Set([...symbols, ...series.symbols()])].sort();
  // Streams of symbols the live run did not keep: it subscribed them partway, when a client asked.
  const late = new LateStreams(series.streams().filter((s) => !kept.has(s.symbol)));
  let closeFile: Promise<void> | undefined;
  const releaseFile = () => (closeFile ??= fh.close().catch(() => undefined));
  const frameFile = frameCount ? fileChunks(fh) : undefined;
  const frames = frameFile ? new FrameSource(recordedFrames(frameFile, lines), { readAhead: opts.readAhead }) : undefined;
  if (!frames) void releaseFile();

  let clock = meta.t;
  const stats = {
    framesSent: 0,
    restAnswered: 0,
    restFromIndex: 0,
    malformedLines: malformed,
    get framesHeldMax() {
      return frames?.peak ?? 0;
    },
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const q = req.url ?? '/';
    const url = new URL(q, 'http://replay');
    const send = (status: number, body: string, askedAt: number) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-mbx-used-weight-1m': '0', [REPLAY_ASKED_AT_HEADER]: String(askedAt) });
      res.end(body);
    };
    const a = answers.next(q);
    if (a) {
      stats.restAnswered++;
      return send(a.s, a.b, a.a);
    }
    if (url.pathname.endsWith('/klines') || url.pathname.endsWith('/uiKlines')) {
      stats.restFromIndex++;
      return send(200, JSON.stringify(answers.klines(url.searchParams)), clock);
    }
    if (url.pathname === '/api/v3/ping') return send(200, '{}', clock);
    if (url.pathname === '/api/v3/time') return send(200, JSON.stringify({ serverTime: clock }), clock);
    return send(404, JSON.stringify({ code: -1, msg: `not in the recording: ${url.pathname}` }), clock);
  };

  const server = createServer(handle);
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const clients = new Set<WebSocket>();
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  let started = false;
  let closing = false;
  let timer: NodeJS.Timeout | undefined;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));

  // Paced against a wall-clock anchor, not one timer per frame: a timer's delay is at least a
  // millisecond and each turn costs more, so a busy recording (thousands of frames a second) fell
  // behind at any speed (a review: 25,000 of 60,000 frames in 40 s at 1x, no faster at 10x). Each
  // turn sends every frame that is due, at most MAX_FRAMES_PER_TURN (so the loop yields), then
  // waits until the next one is due. A player held up (a slow read) catches up in bursts.
  const speed = opts.speed;
  let anchor: { wall: number; t: number } | undefined;
  const dueAt = (t: number): number => (speed === 'max' || !anchor ? 0 : anchor.wall + (t - anchor.t) / speed);
  const pump = () => {
    timer = undefined;
    const now = performance.now();
    for (let i = 0; i < MAX_FRAMES_PER_TURN; i++) {
      const next = frames?.peek();
      if (!next || dueAt(next.t) > now) break;
      // The first frame of a stream the engine is subscribing waits for its SUBSCRIBE.
      if (!late.admit(next.d)) return void late.released().then(schedule);
      const f = frames!.shift()!;
      // The first frame goes at once and anchors the schedule.
      anchor ??= { wall: now, t: f.t };
      clock = f.t;
      for (const c of clients) if (c.readyState === WebSocket.OPEN) c.send(f.d);
      stats.framesSent++;
    }
    schedule();
  };
  const schedule = () => {
    if (closing || !frames || timer || late.holding) return;
    const next = frames.peek();
    if (next) {
      timer = setTimeout(pump, Math.max(0, dueAt(next.t) - performance.now()));
    } else if (frames.ended) {
      // Every frame played (or the second read failed: the file changed under the replay; it ends there).
      void releaseFile();
      finish();
    } else {
      // The player outran the reading: play on once the next frame is read.
      void frames.ready().then(schedule);
    }
  };

  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      ws.on('close', () => {
        clients.delete(ws);
        late.disconnected(ws);
      });
      ws.on('error', () => {});
      // The engine adds streams with live SUBSCRIBE requests and waits for each reply; the recording already
      // holds every frame it recorded, so a request is only acknowledged (as Binance does), never acted on.
      ws.on('message', (data, isBinary) => {
        const text = isBinary ? '' : data.toString();
        const reply = controlReply(text);
        if (!reply) return;
        ws.send(reply);
        // After the reply, as Binance orders them: the engine reads the frame it releases as subscribed.
        const control = controlStreams(text);
        if (control?.method === 'SUBSCRIBE') late.subscribe(ws, control.streams);
        else if (control?.method === 'UNSUBSCRIBE') late.unsubscribe(ws, control.streams);
      });
      if (!started) {
        started = true;
        schedule();
      }
    });
  });

  // Binance pings every connection every 20 s, also while nothing trades: after its last frame a replay
  // stays connected this way, where the engine took the silent socket for dead every minute.
  const pings = setInterval(() => {
    for (const c of clients) if (c.readyState === WebSocket.OPEN) c.ping();
  }, opts.pingIntervalMs ?? PING_INTERVAL_MS).unref();

  await new Promise<void>((resolve) => server.listen(0, opts.host ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  if (!frames) finish();
  return {
    restUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    symbols,
    heldSymbols,
    intervals: meta.intervals,
    recordedAt: meta.t,
    firstBar: (symbol, interval) => series.firstBar(symbol, interval),
    onStreamStart: (starting) => void (late.starting = starting),
    now: () => clock,
    done,
    stats,
    endedEarly: endedEarly === undefined ? undefined : { reason: endedEarly, lines },
    async close() {
      closing = true;
      clearTimeout(timer);
      late.release();
      clearInterval(pings);
      frames?.close();
      frameFile?.destroy();
      await releaseFile();
      for (const c of clients) c.terminate();
      wss.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The method and streams of a SUBSCRIBE or UNSUBSCRIBE (undefined for anything else). */
function controlStreams(text: string): { method: 'SUBSCRIBE' | 'UNSUBSCRIBE'; streams: string[] } | undefined {
  try {
    const msg = JSON.parse(text) as { method?: unknown; params?: unknown };
    if ((msg.method !== 'SUBSCRIBE' && msg.method !== 'UNSUBSCRIBE') || !Array.isArray(msg.params)) return undefined;
    return { method: msg.method, streams: msg.params.filter((p): p is string => typeof p === 'string') };
  } catch {
    return undefined;
  }
}

/** Binance's reply to a live method (`{"result":…,"id":N}`), or undefined for anything else. */
export function controlReply(text: string): string | undefined {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof msg !== 'object' || msg === null) return undefined;
  const { method, id } = msg as { method?: unknown; id?: unknown };
  if (typeof id !== 'number' && typeof id !== 'string') return undefined;
  if (method === 'SUBSCRIBE' || method === 'UNSUBSCRIBE') return JSON.stringify({ result: null, id });
  if (method === 'LIST_SUBSCRIPTIONS') return JSON.stringify({ result: [], id });
  return undefined;
}
