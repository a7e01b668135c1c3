import { afterEach, expect } from 'vitest';
import type { MalformedFrameError } from '../../engine/src/domain/errors.ts';
import { ConnectLimiter } from '../../engine/src/sources/connect-limiter.ts';
import { StreamShard } from '../../engine/src/sources/stream-shard.ts';
import type { UpstreamEvent } from '../../engine/src/sources/upstream-event.ts';
import { type SimExchange, startSimExchange } from '../../engine/sim/sim-exchange.ts';
import { until } from './until.ts';

/** Streams per connection, the exchange's cap and the shard's. */
export const MAX = 4;
export const [A, B, C, D, Y] = ['btcusdt', 'ethusdt', 'solusdt', 'bnbusdt', 'xrpusdt'].map((s) => `${s}@kline_1s`) as [string, string, string, string, string];
/** Each stream's symbol, as its klines name it. */
export const SYMBOL: Record<string, string> = { [A]: 'BTCUSDT', [B]: 'ETHUSDT', [C]: 'SOLUSDT', [D]: 'BNBUSDT', [Y]: 'XRPUSDT' };

/** `change` run at the `nth` "upstream `method` failed, will retry": a microtask after its log, once the request is marked failed. */
export interface ShardFailureHook {
  method: 'SUBSCRIBE' | 'UNSUBSCRIBE';
  nth: number;
  change: (s: StreamShard) => void;
}

export interface ShardRigStart {
  /** Streams added once the shard is made. */
  initial: string[];
  /** Unset: the shard's own default. */
  replyTimeoutMs?: number;
  /** Unset: the shard's own default (its reconnects' and retried rotations' first backoff). */
  backoffInitialMs?: number;
  /** Unset: an hour. */
  rotateAfterMs?: number;
  /** Run on the simulator before the shard dials (a fault set up front). */
  before?: (sim: SimExchange) => void;
  /** Run on each event once it is recorded. */
  onEvent?: (e: UpstreamEvent, s: StreamShard) => void;
  onFailure?: ShardFailureHook;
}

/**
 * What a rig's shard did: its events, its logs (`msg` and its fields as JSON), its malformed frames,
 * the count of events at each failure of the hooked method, and at the hooked one (`changed`, -1
 * before it) with what the exchange held then.
 */
export interface ShardRecord {
  events: UpstreamEvent[];
  logs: string[];
  malformed: string[];
  failures: number[];
  at: { changed: number; held: string[][] };
}

/** A kline of `stream` among the events from index `from`. */
export const klineAfter = (events: UpstreamEvent[], from: number, stream: string) => events.slice(from).some((e) => e.type === 'kline' && e.symbol === SYMBOL[stream]);
/** The shard's socket was cut. */
export const cut = (events: UpstreamEvent[]) => events.some((e) => e.type === 'disconnected');

/** A kline of each comes after the reply to its SUBSCRIBE: every request so far is answered. */
export const untilKlineOfEach = (events: UpstreamEvent[], streams: string[]) => until(() => streams.every((s) => klineAfter(events, 0, s)), 10_000, 'a kline of each stream');

/**
 * One StreamShard (index 0, stale after 1.5 s, never rotated) against a simulated exchange of the
 * five SYMBOLs that caps a connection at MAX streams, as is the shard: `start` makes both, afterEach
 * stops them. Read `sim` and `shard` inside the tests, once started.
 */
export function useShardRig() {
  const rig = {} as { sim: SimExchange; shard: StreamShard };
  afterEach(async () => {
    rig.shard?.stop();
    await rig.sim?.close();
  });
  /** What the exchange holds, a sorted list of streams per socket. */
  const held = () => rig.sim.subscriptions().map((streams) => [...streams].sort());
  const start = async (o: ShardRigStart): Promise<ShardRecord> => {
    rig.sim = await startSimExchange({ symbols: Object.values(SYMBOL), pushIntervalMs: 100, maxStreamsPerConnection: MAX });
    const r: ShardRecord = { events: [], logs: [], malformed: [], failures: [], at: { changed: -1, held: [] } };
    o.before?.(rig.sim);
    rig.shard = new StreamShard({
      index: 0,
      wsUrl: rig.sim.wsUrl,
      staleAfterMs: 1500,
      rotateAfterMs: o.rotateAfterMs ?? 3_600_000,
      limiter: new ConnectLimiter(),
      maxStreams: MAX,
      replyTimeoutMs: o.replyTimeoutMs,
      backoffInitialMs: o.backoffInitialMs,
      emit: (e) => {
        r.events.push(e);
        o.onEvent?.(e, rig.shard);
      },
      onMalformed: (e: MalformedFrameError) => r.malformed.push(e.message),
      log: (_level, msg, fields) => {
        r.logs.push(`${msg} ${JSON.stringify(fields)}`);
        const hook = o.onFailure;
        if (hook === undefined || msg !== `upstream ${hook.method} failed, will retry`) return;
        r.failures.push(r.events.length);
        if (r.failures.length !== hook.nth) return;
        r.at.changed = r.events.length;
        queueMicrotask(() => {
          r.at.held = held();
          hook.change(rig.shard);
        });
      },
    });
    rig.shard.add(o.initial);
    return r;
  };
  /**
   * Never one too many: no log matching `quiet`, no cut, no socket closed by the exchange for its
   * cap, and (given) `dials` connection attempts in all.
   */
  const expectNeverOverCap = ({ events, logs }: Pick<ShardRecord, 'events' | 'logs'>, quiet: RegExp, dials?: number) => {
    expect(logs.filter((l) => quiet.test(l))).toEqual([]);
    expect(events.filter((e) => e.type === 'disconnected')).toEqual([]);
    expect(rig.sim.stats.limitCloses).toBe(0);
    if (dials !== undefined) expect(rig.sim.stats.wsConnectAttempts).toBe(dials);
  };
  return Object.assign(rig, { start, held, expectNeverOverCap });
}
