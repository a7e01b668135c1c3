/**
 * Load worker process: opens its share of the clients with `ws`, timestamps what they receive and
 * reports counts and mergeable histograms to the parent. Latency is receive time minus the relay's
 * send time of the same update (one monotonic clock for every process on the machine); to keep the
 * client side cheap, each client parses and times only every k-th update (k set by the parent from
 * the expected message rate), the others are only counted.
 */
import WebSocket from 'ws';
import { monoUs } from '../lib/clock.ts';
import { Histogram } from '../lib/histogram.ts';
import { serve, emit } from '../lib/ipc.ts';
import { latencyKey } from '../lib/latency-key.ts';

interface Client {
  ws: WebSocket;
  /** Counts received updates; every `sampleEvery`-th one is timed (random phase per client). */
  n: number;
  historicalAt: number | undefined;
  failed: string | undefined;
}

const PREFIX = Buffer.from('{"type":"');
const H = 'h'.charCodeAt(0);
const L = 'l'.charCodeAt(0);
/** Send times older than this are dropped from the table; receives unmatched this long are counted unmatched. */
const TABLE_TTL_US = 20e6;
const PENDING_TTL_US = 5e6;

const clients: Client[] = [];
const sendTimes = new Map<string, number>();
let pending: Array<{ key: string; at: number }> = [];
let latency = new Histogram();
let delivered = 0;
let deliveredAll = 0;
/** End of the current window on this process's clock: messages handled later are not counted. */
let windowEndsAt = Infinity;
let unmatched = 0;
let closes: Record<string, number> = {};
let sampleEvery = 1;
let historicalSample: { bytes: number; bars: number } | undefined;

function typeOf(data: Buffer): 'historical' | 'live' | 'other' {
  if (data.length > 12 && data.compare(PREFIX, 0, PREFIX.length, 0, PREFIX.length) === 0) {
    return data[9] === H ? 'historical' : data[9] === L ? 'live' : 'other';
  }
  return 'other';
}

function onMessage(c: Client, data: Buffer): void {
  const kind = typeOf(data);
  if (kind === 'historical') {
    c.historicalAt ??= monoUs();
    if (!historicalSample) {
      const m = JSON.parse(data.toString()) as { data: unknown[] };
      historicalSample = { bytes: data.length, bars: m.data.length };
    }
    return;
  }
  if (kind !== 'live') return;
  deliveredAll++;
  // An overloaded worker handles its backlog late: what it handles after the window is not delivered in it.
  if (performance.now() > windowEndsAt) return;
  delivered++;
  if (++c.n % sampleEvery !== 0) return;
  const at = monoUs();
  const m = JSON.parse(data.toString()) as { symbol: string; interval: string; time: number; close: number; volume: number };
  const key = latencyKey(m.symbol, m.interval, m.time, m.close, m.volume);
  const sent = sendTimes.get(key);
  if (sent === undefined) pending.push({ key, at });
  else latency.record(at - sent);
}

/** Times the pending receives whose send time has arrived; returns those still waiting. */
function resolve(list: Array<{ key: string; at: number }>, into: Histogram): Array<{ key: string; at: number }> {
  if (list.length === 0) return list;
  const now = monoUs();
  const still: typeof list = [];
  for (const p of list) {
    const sent = sendTimes.get(p.key);
    if (sent !== undefined) into.record(p.at - sent);
    else if (now - p.at > PENDING_TTL_US) unmatched++;
    else still.push(p);
  }
  return still;
}

function addSendTimes(entries: Array<[string, number]>): void {
  for (const [k, at] of entries) if (!sendTimes.has(k)) sendTimes.set(k, at);
  // Insertion order is send order: drop the oldest beyond the TTL.
  const cutoff = monoUs() - TABLE_TTL_US;
  for (const [k, at] of sendTimes) {
    if (at >= cutoff) break;
    sendTimes.delete(k);
  }
  pending = resolve(pending, latency);
}

interface ConnectArgs {
  url: string;
  /** Path and query per client, e.g. /ws/BTCUSDT?interval=1m. */
  paths: string[];
  /** Connections in flight at once; 0 = all at once (connect storm). */
  concurrency: number;
  /** Common start time (µs, monotonic) the time-to-historical is measured from; defaults to now. */
  t0Us?: number;
  timeoutMs: number;
}

async function connect(a: ConnectArgs) {
  const t0 = a.t0Us ?? monoUs();
  const batch: Client[] = [];
  const limit = a.concurrency > 0 ? a.concurrency : a.paths.length;
  let next = 0;
  let inFlight = 0;
  let settled = 0;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  const settle = () => {
    inFlight--;
    settled++;
    if (settled === a.paths.length) finish();
    else launch();
  };
  const open = (path: string) => {
    const ws = new WebSocket(a.url + path, { perMessageDeflate: false, skipUTF8Validation: true, handshakeTimeout: a.timeoutMs });
    const c: Client = { ws, n: Math.floor(Math.random() * 1e6), historicalAt: undefined, failed: undefined };
    batch.push(c);
    clients.push(c);
    let counted = false;
    ws.on('message', (data: Buffer) => {
      onMessage(c, data);
      if (!counted && c.historicalAt !== undefined) {
        counted = true;
        settle();
      }
    });
    ws.on('error', (e) => {
      c.failed ??= (e as NodeJS.ErrnoException).code ?? e.message.slice(0, 40);
    });
    ws.on('close', (code) => {
      closes[code] = (closes[code] ?? 0) + 1;
      if (!counted) {
        counted = true;
        c.failed ??= `closed ${code}`;
        settle();
      }
    });
  };
  const launch = () => {
    while (inFlight < limit && next < a.paths.length) {
      inFlight++;
      open(a.paths[next]!);
      next++;
    }
  };
  launch();
  const timer = setTimeout(finish, a.timeoutMs);
  await done;
  clearTimeout(timer);
  const hist = new Histogram();
  const failures: Record<string, number> = {};
  for (const c of batch) {
    if (c.historicalAt !== undefined) hist.record(c.historicalAt - t0);
    else {
      const why = c.failed ?? 'timeout';
      failures[why] = (failures[why] ?? 0) + 1;
    }
  }
  return { ok: hist.count, failed: a.paths.length - hist.count, failures, timeToHistorical: hist.toJSON(), historical: historicalSample };
}

serve(
  {
    connect: (m) => connect(m as unknown as ConnectArgs),
    sample: (m) => void (sampleEvery = Math.max(1, Math.floor(Number(m.every)))),
    sent: (m) => addSendTimes(m.entries as Array<[string, number]>),
    'window-start': (m) => {
      windowEndsAt = m.seconds === undefined ? Infinity : performance.now() + Number(m.seconds) * 1000;
      latency = new Histogram();
      delivered = 0;
      deliveredAll = 0;
      unmatched = 0;
      closes = {};
      pending = [];
    },
    'window-end': async () => {
      // Count up to now; later receives belong to no window. Send times leave the relay in 20 ms
      // batches, so wait for those in flight before timing the receives already recorded.
      const counted = delivered;
      windowEndsAt = Infinity;
      const h = latency;
      const seen = pending;
      latency = new Histogram();
      pending = [];
      await new Promise((r) => setTimeout(r, 80));
      const left = resolve(seen, h).length;
      return { delivered: counted, deliveredAll, unmatched: unmatched + left, latency: h.toJSON(), closes };
    },
    pause: (m) => {
      const n = Number(m.count);
      for (const c of clients.slice(0, n)) c.ws.pause();
      return n;
    },
    status: () => ({ open: clients.filter((c) => c.ws.readyState === WebSocket.OPEN).length, total: clients.length, closes }),
    disconnect: async () => {
      const open = clients.filter((c) => c.ws.readyState !== WebSocket.CLOSED);
      await Promise.race([
        Promise.all(open.map((c) => new Promise((r) => (c.ws.once('close', r), c.ws.terminate())))),
        new Promise((r) => setTimeout(r, 5000)),
      ]);
      clients.length = 0;
      sendTimes.clear();
      pending = [];
      historicalSample = undefined;
      return open.length;
    },
  },
  () => {
    for (const c of clients) c.ws.terminate();
  },
);
emit('ready');
