import { describe, expect, it } from 'vitest';
import { LateStreams } from '../../../engine/src/record/late-streams.ts';

const frame = (stream: string) => `{"stream":"${stream}","data":{"e":"kline"}}`;
const SOL = { name: 'solusdt@kline_1m', symbol: 'SOLUSDT', interval: '1m' };

describe('LateStreams: the first frame of a stream the live run opened on demand waits for its SUBSCRIBE', () => {
  it('asks the engine once, holds the frame until the stream is subscribed, then lets every frame go', async () => {
    const late = new LateStreams([SOL], 10_000);
    const asked: string[] = [];
    late.starting = (symbol, interval) => (asked.push(`${symbol}:${interval}`), true);
    expect(late.admit(frame('btcusdt@kline_1m'))).toBe(true);
    expect(late.admit(frame('solusdt@kline_1m'))).toBe(false);
    expect(late.holding).toBe(true);
    // Nothing passes while it is held: the order of frames is kept.
    expect(late.admit(frame('btcusdt@kline_1m'))).toBe(false);
    let released = false;
    void late.released().then(() => (released = true));
    const shard = {};
    late.subscribe(shard, ['ethusdt@kline_1m']);
    await Promise.resolve();
    expect(released).toBe(false);
    late.subscribe(shard, ['solusdt@kline_1m']);
    await Promise.resolve();
    expect(released).toBe(true);
    expect(late.admit(frame('solusdt@kline_1m'))).toBe(true);
    expect(late.admit(frame('solusdt@kline_1m'))).toBe(true);
    expect(asked).toEqual(['SOLUSDT:1m']);
  });

  it('holds nothing when no engine asks, when the engine takes no series on it, or when its answer throws', () => {
    expect(new LateStreams([SOL]).admit(frame(SOL.name))).toBe(true);
    const refused = new LateStreams([SOL]);
    refused.starting = () => false;
    expect(refused.admit(frame(SOL.name))).toBe(true);
    const throwing = new LateStreams([SOL]);
    throwing.starting = () => {
      throw new Error('the engine failed');
    };
    expect(throwing.admit(frame(SOL.name))).toBe(true);
    expect(throwing.holding).toBe(false);
  });

  it('asks the engine even when the stream is subscribed already (a client of the replay opened it first), and does not hold its frame (reproduced: not asked, the series went once that client left)', () => {
    const early = new LateStreams([SOL]);
    const asked: string[] = [];
    early.starting = (symbol, interval) => (asked.push(`${symbol}:${interval}`), true);
    early.subscribe({}, ['solusdt@kline_1m']);
    expect(early.admit(frame(SOL.name))).toBe(true);
    expect(asked).toEqual(['SOLUSDT:1m']);
  });

  it('holds the frame of a stream subscribed once and left since: unsubscribed, or its connection closed (reproduced: a SUBSCRIBE was remembered for good)', () => {
    for (const leave of ['unsubscribe', 'close'] as const) {
      const late = new LateStreams([SOL], 10_000);
      late.starting = () => true;
      const shard = {};
      const other = {};
      late.subscribe(shard, ['solusdt@kline_1m', 'btcusdt@kline_1m']);
      late.subscribe(other, ['btcusdt@kline_1m']);
      if (leave === 'unsubscribe') late.unsubscribe(shard, ['solusdt@kline_1m']);
      else late.disconnected(shard);
      // Another connection's streams are its own.
      late.unsubscribe(other, ['solusdt@kline_1m']);
      expect(late.admit(frame(SOL.name)), leave).toBe(false);
      late.subscribe(other, ['solusdt@kline_1m']);
      expect(late.holding, leave).toBe(false);
    }
  });

  it('lets the frame go after waitMs when the SUBSCRIBE never comes (a replay never hangs on it)', async () => {
    const late = new LateStreams([SOL], 30);
    late.starting = () => true;
    expect(late.admit(frame(SOL.name))).toBe(false);
    const started = Date.now();
    await late.released();
    expect(Date.now() - started).toBeGreaterThanOrEqual(20);
    expect(late.admit(frame(SOL.name))).toBe(true);
  });
});
