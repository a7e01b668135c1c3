import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import { startTestApp } from '../../helpers/test-app.ts';
import { EngineClient, type EngineMessage, type WireCandle } from '../../helpers/ws-client.ts';

type Live = Extract<EngineMessage, { type: 'live_candle' }>;
const candle = ({ time, open, high, low, close, volume, is_closed }: WireCandle): WireCandle => ({ time, open, high, low, close, volume, is_closed });

/** Offsets a client saw, in order: the snapshot's, then one per live update. */
function offsetsOf(c: EngineClient): number[] {
  const first = c.messages.find((m) => m.type === 'historical' || m.type === 'recovered') as { offset: number };
  return [first.offset, ...c.live().map((m) => m.offset!)];
}

describe('resume by epoch and offset (ROLE=all, memory store)', () => {
  let app: App;
  let ws: string;
  beforeAll(async () => {
    app = await startTestApp({
      source: 'sim',
      symbols: ['BTCUSDT'],
      intervals: ['1m'],
      bufferSize: 100,
      historyOnConnect: 50,
      resumeUpdates: 10,
      resumeMaxAgeMs: 60_000,
      simOptions: { pushIntervalMs: 50, clockSpeed: 60 },
    });
    await app.ready;
    ws = `${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m`;
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('numbers every update: historical carries the position, live offsets follow it by one, epoch fixed', async () => {
    const c = new EngineClient(ws);
    try {
      await c.until((x) => x.live().length >= 10, 10_000, 'ten updates');
      const h = c.historical()!;
      expect(h.epoch).toMatch(/^[A-Za-z0-9_-]{8,}$/);
      const offs = offsetsOf(c);
      for (let i = 1; i < offs.length; i++) expect(offs[i]).toBe(offs[i - 1]! + 1);
      expect(new Set(c.live().map((m) => m.epoch))).toEqual(new Set([h.epoch]));
    } finally {
      c.close();
    }
  });

  it('a client that reconnects with epoch and since gets `recovered` with exactly what it missed, then live from there', async () => {
    const witness = new EngineClient(ws);
    const first = new EngineClient(ws);
    await first.until((x) => x.live().length >= 3, 10_000, 'updates');
    first.close();
    const lastSeen = first.live().at(-1)!;
    // Updates go by meanwhile.
    await witness.until((x) => (x.live().at(-1)?.offset ?? 0) > lastSeen.offset! + 5, 10_000, 'more updates');
    const back = new EngineClient(`${ws}&epoch=${lastSeen.epoch}&since=${lastSeen.offset}`);
    try {
      await back.until((x) => x.live().length >= 3, 10_000, 'live after resume');
      const rec = back.messages[0] as Extract<EngineMessage, { type: 'recovered' }>;
      expect(rec.type).toBe('recovered');
      expect(rec.epoch).toBe(lastSeen.epoch);
      expect(rec.offset).toBeGreaterThan(lastSeen.offset! + 3);
      // The witness saw every update: the latest version of each bar touched in (since, offset].
      await witness.until((x) => x.live().some((m) => m.offset === rec.offset), 5000, 'witness at the resume offset');
      const missed = witness.live().filter((m) => m.offset! > lastSeen.offset! && m.offset! <= rec.offset);
      expect(missed).toHaveLength(rec.offset - lastSeen.offset!);
      const latest = new Map<number, WireCandle>();
      for (const m of missed) latest.set(m.time, candle(m));
      expect(rec.data).toEqual([...latest.values()].sort((a, b) => a.time - b.time));
      // Then live continues at offset + 1 with no hole and no repeat.
      expect(offsetsOf(back).slice(0, 4)).toEqual([rec.offset, rec.offset + 1, rec.offset + 2, rec.offset + 3]);
      const tail = back.live().slice(0, 3);
      expect(tail).toEqual(witness.live().filter((m: Live) => m.offset! > rec.offset).slice(0, 3));
    } finally {
      witness.close();
      back.close();
    }
  });

  it('a resume past the kept history, or under another epoch, gets a fresh historical with recovered:false', async () => {
    const c = new EngineClient(ws);
    await c.until((x) => x.live().length >= 1, 10_000, 'an update');
    const { epoch, offset } = c.live()[0]!;
    // More than resumeUpdates (10) updates go by.
    await c.until((x) => (x.live().at(-1)?.offset ?? 0) > offset! + 15, 20_000, '15 more updates');
    c.close();
    for (const url of [`${ws}&epoch=${epoch}&since=${offset}`, `${ws}&epoch=another-epoch&since=${offset}`]) {
      const r = new EngineClient(url);
      try {
        await r.until((x) => x.messages.length >= 1, 5000, 'first message');
        const h = r.messages[0] as Extract<EngineMessage, { type: 'historical' }>;
        expect(h).toMatchObject({ type: 'historical', recovered: false, epoch });
        expect(h.data).toHaveLength(50);
        expect(h.offset).toBeGreaterThan(offset! + 10);
      } finally {
        r.close();
      }
    }
  });

  it.each([
    ['epoch without since', '&epoch=abc', /since/],
    ['a malformed offset', '&epoch=abc&since=-1', /since/],
    ['a malformed epoch', '&epoch=a%20b&since=3', /epoch/],
  ])('refuses %s with an error and close 4000', async (_what, query, re) => {
    const c = new EngineClient(`${ws}${query}`);
    await c.until((x) => x.closeCode !== undefined, 5000, 'close');
    expect(c.closeCode).toBe(4000);
    expect(c.messages[0]).toMatchObject({ type: 'error' });
    expect((c.messages[0] as { message: string }).message).toMatch(re);
  });
});
