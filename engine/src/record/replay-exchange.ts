import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { REPLAY_ASKED_AT_HEADER } from '../sources/binance-rest.ts';
import { metaProblem } from './meta-problem.ts';
import { readRecording } from './read-recording.ts';
import { RecordingFileError } from './recording-file-error.ts';
import type { RecordLine } from './recording-format.ts';

export type ReplaySpeed = number | 'max';

export interface ReplayExchange {
  readonly restUrl: string;
  readonly wsUrl: string;
  readonly symbols: string[];
  readonly intervals: string[];
  /** The recording's clock: the receive time of the last frame played. */
  now(): number;
  /** Resolves when every recorded frame has been sent. */
  readonly done: Promise<void>;
  readonly stats: { framesSent: number; restAnswered: number; restFromIndex: number; malformedLines: number };
  /** The recording was cut short (its recorder killed): why, and how many lines were read before the cut. */
  readonly endedEarly?: { reason: string; lines: number };
  close(): Promise<void>;
}

type Row = [number, ...unknown[]];

/**
 * Plays a recording back through Binance's protocol on loopback, so the engine consumes it exactly as
 * it consumed the exchange: REST questions get the recorded answers (same question, same answer, in
 * order; a question never asked while recording is answered from every kline row the recording holds),
 * and the recorded frames are streamed in order at 1x, Nx or maximum speed.
 */
export async function startReplayExchange(opts: { file: string; speed: ReplaySpeed; host?: string }): Promise<ReplayExchange> {
  const { lines, malformed: unread, endedEarly } = await readRecording(opts.file);
  let malformed = unread;
  const meta = lines.find((l): l is Extract<RecordLine, { k: 'meta' }> => l.k === 'meta');
  if (!meta) throw new RecordingFileError(opts.file, 'it has no meta line');
  const problem = metaProblem(meta);
  if (problem) throw new RecordingFileError(opts.file, problem);
  const frames = lines.filter((l): l is Extract<RecordLine, { k: 'ws' }> => l.k === 'ws');
  const answers = new Map<string, Array<Extract<RecordLine, { k: 'rest' }>>>();
  const index = new Map<string, Map<number, Row>>();
  const indexRow = (key: string, row: Row) => {
    let m = index.get(key);
    if (!m) index.set(key, (m = new Map()));
    m.set(row[0], row);
  };
  for (const l of lines) {
    if (l.k !== 'rest') continue;
    let u: URL;
    try {
      u = new URL(l.q, 'http://x');
    } catch {
      malformed++; // a question no engine could have asked ('//' is not a path)
      continue;
    }
    const list = answers.get(l.q) ?? [];
    list.push(l);
    answers.set(l.q, list);
    if (l.s === 200 && u.pathname.endsWith('/klines')) {
      try {
        const rows: unknown = JSON.parse(l.b);
        if (!Array.isArray(rows)) continue;
        for (const row of rows) if (Array.isArray(row) && typeof row[0] === 'number') indexRow(`${u.searchParams.get('symbol')}:${u.searchParams.get('interval')}`, row as Row);
      } catch {
        /* a malformed recorded body stays answerable verbatim, it just isn't indexed */
      }
    }
  }

  let clock = meta.t;
  const stats = { framesSent: 0, restAnswered: 0, restFromIndex: 0, malformedLines: malformed };

  const fromIndex = (q: URLSearchParams): Row[] => {
    const rows = [...(index.get(`${q.get('symbol')}:${q.get('interval')}`)?.values() ?? [])].sort((a, b) => a[0] - b[0]);
    const start = q.get('startTime') ? Number(q.get('startTime')) : undefined;
    const end = q.get('endTime') ? Number(q.get('endTime')) : undefined;
    const limit = Number(q.get('limit') ?? 500);
    const inRange = rows.filter((r) => (start === undefined || r[0] >= start) && (end === undefined || r[0] <= end));
    return start !== undefined ? inRange.slice(0, limit) : inRange.slice(-limit);
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const q = req.url ?? '/';
    const url = new URL(q, 'http://replay');
    const send = (status: number, body: string, askedAt: number) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-mbx-used-weight-1m': '0', [REPLAY_ASKED_AT_HEADER]: String(askedAt) });
      res.end(body);
    };
    const queue = answers.get(q);
    if (queue?.length) {
      // The same question gets the recorded answers in order; the last one repeats.
      const a = queue.length > 1 ? queue.shift()! : queue[0]!;
      stats.restAnswered++;
      return send(a.s, a.b, a.a);
    }
    if (url.pathname.endsWith('/klines') || url.pathname.endsWith('/uiKlines')) {
      stats.restFromIndex++;
      return send(200, JSON.stringify(fromIndex(url.searchParams)), clock);
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
  let timer: NodeJS.Timeout | undefined;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));

  let next = 0;
  const pump = () => {
    timer = undefined;
    const batchEnd = opts.speed === 'max' ? Math.min(frames.length, next + 500) : next + 1;
    for (; next < batchEnd && next < frames.length; next++) {
      const f = frames[next]!;
      clock = f.t;
      for (const c of clients) if (c.readyState === WebSocket.OPEN) c.send(f.d);
      stats.framesSent++;
    }
    if (next >= frames.length) return finish();
    const gap = opts.speed === 'max' ? 0 : Math.max(0, (frames[next]!.t - frames[next - 1]!.t) / opts.speed);
    timer = setTimeout(pump, gap);
  };

  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      ws.on('close', () => clients.delete(ws));
      ws.on('error', () => {});
      // The engine adds streams with live SUBSCRIBE requests and waits for each reply; the recording already
      // holds every frame it recorded, so a request is only acknowledged (as Binance does), never acted on.
      ws.on('message', (data, isBinary) => {
        const reply = isBinary ? undefined : controlReply(data.toString());
        if (reply) ws.send(reply);
      });
      if (!started) {
        started = true;
        timer = setTimeout(pump, 0);
      }
    });
  });

  await new Promise<void>((resolve) => server.listen(0, opts.host ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  if (frames.length === 0) finish();
  return {
    restUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    symbols: meta.symbols,
    intervals: meta.intervals,
    now: () => clock,
    done,
    stats,
    endedEarly: endedEarly === undefined ? undefined : { reason: endedEarly, lines: lines.length + unread },
    async close() {
      clearTimeout(timer);
      for (const c of clients) c.terminate();
      wss.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
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
