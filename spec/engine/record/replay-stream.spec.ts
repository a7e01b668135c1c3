import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { READ_AHEAD } from '../../../engine/src/record/frame-source.ts';
import { type ReplaySpeed, startReplayExchange } from '../../../engine/src/record/replay-exchange.ts';

const dir = mkdtempSync(join(tmpdir(), 'replay-stream-'));
const meta = { k: 'meta', t: 1000, symbols: ['BTCUSDT'], intervals: ['1m'], source: 'sim' };
const frame = (i: number, t = 1000 + i) => ({ k: 'ws', t, d: `{"e":"kline","n":${i}}` });
const rest = { k: 'rest', t: 1000, a: 999, q: '/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=2', s: 200, b: '[[60000,"1"],[120000,"2"]]' };
const recording = (name: string, rows: unknown[]) => {
  const p = join(dir, name);
  writeFileSync(p, gzipSync(rows.map((r) => JSON.stringify(r)).join('\n') + '\n'));
  return p;
};

/** Plays `file` to one client to the end: the frames it got, and the exchange's stats then. */
async function play(file: string, speed: ReplaySpeed, readAhead?: number) {
  const ex = await startReplayExchange({ file, speed, readAhead });
  try {
    const got: number[] = [];
    const ws = new WebSocket(ex.wsUrl);
    ws.on('message', (d: Buffer) => got.push((JSON.parse(d.toString()) as { n: number }).n));
    const started = Date.now();
    await ex.done;
    const ms = Date.now() - started;
    // Sent is not yet received: wait for the last frames to arrive.
    await expect.poll(() => got.length).toBe(ex.stats.framesSent);
    ws.terminate();
    const answer = await (await fetch(`${ex.restUrl}${rest.q}`)).text();
    return { got, ms, stats: { ...ex.stats }, now: ex.now(), rest: answer };
  } finally {
    await ex.close();
  }
}

describe('SOURCE=replay streams its frames from the file', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('plays a recording of 50,000 frames at max speed holding at most the read-ahead of them, never the recording', async () => {
    const n = 50_000;
    const file = recording('long.jsonl.gz', [meta, rest, ...Array.from({ length: n }, (_, i) => frame(i))]);
    const { got, stats, now, rest: answer } = await play(file, 'max');
    expect(stats.framesSent).toBe(n);
    expect(got.every((v, i) => v === i)).toBe(true);
    expect(now).toBe(1000 + n - 1);
    expect(stats.framesHeldMax).toBeGreaterThan(0);
    expect(stats.framesHeldMax).toBeLessThanOrEqual(READ_AHEAD);
    expect(READ_AHEAD).toBeLessThan(n / 10);
    // The REST answers, kept from the first pass, are still served.
    expect(answer).toBe(rest.b);
    expect(stats.restAnswered).toBe(1);
  }, 30_000);

  it('at Nx keeps the recorded gaps, scaled, with a read-ahead smaller than the recording (refilled as it plays)', async () => {
    // 21 frames 100 ms apart at 10x: 2 s recorded, about 200 ms played; the first one goes at once.
    const file = recording('paced.jsonl.gz', [meta, ...Array.from({ length: 21 }, (_, i) => frame(i, 2000 + i * 100))]);
    const { got, ms, stats, now } = await play(file, 10, 4);
    expect(got).toEqual(Array.from({ length: 21 }, (_, i) => i));
    expect(ms).toBeGreaterThanOrEqual(180);
    expect(ms).toBeLessThan(2000);
    expect(now).toBe(4000);
    expect(stats.framesHeldMax).toBeLessThanOrEqual(4);
  });

  it('keeps up with a dense recording at Nx: 60,000 frames over 30 s at 10x are all played by their 3 s schedule plus a wide margin (reproduced: one timer per frame, 25,000 of 60,000 in 40 s)', async () => {
    const n = 60_000;
    // Two frames per recorded millisecond, as a busy all-market recording has.
    const file = recording('dense.jsonl.gz', [meta, ...Array.from({ length: n }, (_, i) => frame(i, 1000 + Math.floor(i / 2)))]);
    const ex = await startReplayExchange({ file, speed: 10 });
    const ws = new WebSocket(ex.wsUrl);
    try {
      let received = 0;
      let inOrder = true;
      ws.on('message', (d: Buffer) => {
        if ((JSON.parse(d.toString()) as { n: number }).n !== received) inOrder = false;
        received++;
      });
      const started = Date.now();
      // Not a timing bound: 5x the schedule, far over what pacing needs.
      await Promise.race([ex.done, new Promise((r) => setTimeout(r, 15_000))]);
      const ms = Date.now() - started;
      expect(ex.stats.framesSent).toBe(n);
      // Still paced, not played at max speed: the schedule is 3 s.
      expect(ms).toBeGreaterThanOrEqual(2500);
      await expect.poll(() => received, { timeout: 5000 }).toBe(n);
      expect(inOrder).toBe(true);
      expect(ex.now()).toBe(1000 + Math.floor((n - 1) / 2));
    } finally {
      ws.terminate();
      await ex.close();
    }
  }, 40_000);

  it('skips malformed lines and REST lines in the second pass, counting each malformed line once', async () => {
    const file = recording('mixed.jsonl.gz', [meta, frame(0), 'garbage', rest, frame(1), '{"k":"ws"}', frame(2)]);
    const { got, stats } = await play(file, 'max', 2);
    expect(got).toEqual([0, 1, 2]);
    expect(stats).toMatchObject({ framesSent: 3, malformedLines: 2 });
  });

  it('a recording of no frames is done at once', async () => {
    const ex = await startReplayExchange({ file: recording('none.jsonl.gz', [meta, rest]), speed: 1 });
    try {
      await ex.done;
      expect(ex.stats).toMatchObject({ framesSent: 0, framesHeldMax: 0 });
    } finally {
      await ex.close();
    }
  });

  it('close mid-play stops reading the file', async () => {
    const file = recording('closed.jsonl.gz', [meta, ...Array.from({ length: 20_000 }, (_, i) => frame(i, 1000 + i * 1000))]);
    const ex = await startReplayExchange({ file, speed: 1 });
    const ws = new WebSocket(ex.wsUrl);
    await new Promise((r) => ws.once('message', r));
    await ex.close();
    ws.terminate();
    expect(ex.stats.framesSent).toBeLessThan(10);
    expect(ex.stats.framesHeldMax).toBeLessThanOrEqual(READ_AHEAD);
  });

  it.skipIf(process.platform !== 'linux')('refuses a REPLAY_FILE that is not a regular file (it is read twice) without blocking on a FIFO', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const err = await startReplayExchange({ file: fifo, speed: 'max' }).then(
      async (ex) => (await ex.close(), undefined),
      (e: unknown) => e as Error,
    );
    expect(err?.name).toBe('RecordingFileError');
    expect(err?.message).toBe(`${fifo}: it is not a regular file (a replay reads it twice)`);
  });
});
