/**
 * A recording client process: opens WebSocket clients and stamps every `live_candle` they receive
 * with the machine's monotonic clock (`monoUs`) as its bytes are read, parsing nothing until asked.
 * Comparing two systems' arrival times in one process would charge each side for the other's
 * messages queued in the same event loop (a burst of 100 messages via one side delays the other's
 * stamps by milliseconds); one process per side, with a client that costs a few µs per message
 * (raw-ws-client.ts), stamps each message close to when the kernel had it.
 */
import { Redis } from 'ioredis';
import { splitEntry } from '../../engine/src/cluster/bar-codec.ts';
import { monoUs } from '../lib/clock.ts';
import { childConfig, emit, serve } from '../lib/ipc.ts';
import { latencyKey } from '../lib/latency-key.ts';
import { RawWsClient } from './raw-ws-client.ts';

export interface RecorderConfig {
  urls: string[];
  /** Also stamp every update Redis publishes on the cluster's channels (`ch:*`): when each left Redis. */
  tapRedisUrl?: string;
}

/** One update as a recorder saw it: its key (latency-key.ts) and arrival time in ms (monotonic). */
export interface Arrival {
  key: string;
  at: number;
}

const LIVE = Buffer.from('{"type":"live_candle"');
const { urls, tapRedisUrl } = childConfig<RecorderConfig>();
const raw: Array<{ at: number; data: Buffer }> = [];
/** Bounds what an unread recording holds (a run far longer than planned drops its oldest). */
const MAX_RAW = 2_000_000;

const sockets = urls.map(
  (url) =>
    new RawWsClient(
      url,
      (data, at) => {
        if (data.length < LIVE.length || LIVE.compare(data, 0, LIVE.length) !== 0) return;
        if (raw.length >= MAX_RAW) raw.splice(0, raw.length / 2);
        raw.push({ at, data });
      },
      () => monoUs() / 1000,
    ),
);

/** Each published update's key and when Redis's message reached this process (ms, monotonic). */
const published = new Map<string, number>();
const tap = tapRedisUrl ? new Redis(tapRedisUrl, { maxRetriesPerRequest: 1 }) : undefined;
tap?.on('pmessage', (_p: string, channel: string, text: string) => {
  const at = monoUs() / 1000;
  const u = splitEntry(text);
  // Channels are `ch:SYMBOL:interval` (cluster-keys.ts).
  const [, symbol, interval] = channel.split(':');
  if (u && symbol && interval) published.set(latencyKey(symbol, interval, u.bar.openTime, u.bar.close, u.bar.volume), at);
});
await tap?.psubscribe('ch:*');

serve(
  {
    /** What the tap saw, as [key, at] pairs. */
    published: () => [...published],
    /** Live updates received within [from, to) (ms, monotonic), parsed now. */
    arrivals: (m) => {
      const from = Number(m.from);
      const to = Number(m.to);
      const out: Arrival[] = [];
      for (const r of raw) {
        if (r.at < from || r.at >= to) continue;
        const c = JSON.parse(r.data.toString()) as { symbol: string; interval: string; time: number; close: number; volume: number };
        out.push({ key: latencyKey(c.symbol, c.interval, c.time, c.close, c.volume), at: r.at });
      }
      return out;
    },
    /** Clients whose socket is open. */
    opened: () => sockets.filter((s) => s.open).length,
  },
  () => {
    for (const s of sockets) s.close();
    tap?.disconnect();
  },
);
emit('ready');
