import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../engine/src/app.ts';
import type { SimExchange } from '../../../engine/sim/sim-exchange.ts';
import { startSeriesApp } from '../../helpers/series-app.ts';
import { until } from '../../helpers/until.ts';
import { EngineClient } from '../../helpers/ws-client.ts';

type Point = { time: number; value: number | null; is_closed: boolean };
type Message = { type: string; time?: number; offset?: number; epoch?: string; name?: string; value?: number | null; is_closed?: boolean; series?: Record<string, Point[]> };
const M = 60_000;
const BUCKET = 5 * M;

/**
 * A resampling series' points sit at its bucket's open, older than the bars that move them. A
 * client away while a bucket closed resumed with a `recovered` whose points started at its last bar:
 * the bucket's closed point was not in it, and the client kept the forming preview for good (a
 * quant review: 52.53 held, forming, where `GET /series` served 50.73, closed).
 */
describe('a resume across the close of a resampled bucket (engine on a simulator, real sockets)', () => {
  let sim: SimExchange;
  let app: App;
  const logs: string[] = [];
  beforeAll(async () => {
    ({ sim, app } = await startSeriesApp('spec/fixtures/series-resample-resume', logs));
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
    await sim?.close();
  });

  it("brings the bucket's closed point, as GET /series serves it", async () => {
    const ws = `${app.url.replace('http', 'ws')}/ws/BTCUSDT?interval=1m&series=bucket-volume`;
    const first = new EngineClient(ws);
    // Away from the third or fourth bar of a bucket: the bar before the first one touched since is
    // then past the bucket's open.
    const lastBar = () => first.live().at(-1)?.time ?? 0;
    await first.until((c) => c.live().length > 3 && lastBar() % BUCKET >= 2 * M && lastBar() % BUCKET < 4 * M, 30_000, 'a live bar late in its bucket');
    first.close();
    const held = new Map<number, Point>();
    let last: Message | undefined;
    for (const m of first.messages as Message[]) {
      if (m.offset !== undefined && (last?.offset === undefined || m.offset >= last.offset)) last = m;
      for (const p of m.series?.['bucket-volume'] ?? []) held.set(p.time, p);
      if (m.type === 'series_point' && m.name === 'bucket-volume') held.set(m.time!, { time: m.time!, value: m.value!, is_closed: m.is_closed! });
    }
    const bucket = lastBar() - (lastBar() % BUCKET);
    expect(held.get(bucket)?.is_closed).toBe(false);

    // The bucket closes while the client is away.
    const served = async () => {
      const r = (await (await fetch(`${app.url}/series/bucket-volume/BTCUSDT/1m?limit=20`)).json()) as { points: Point[] };
      return r.points.find((p) => p.time === bucket);
    };
    await until(async () => (await served())?.is_closed === true, 20_000, "the bucket's closed point");

    const back = new EngineClient(`${ws}&epoch=${last!.epoch}&since=${last!.offset}`);
    try {
      await back.until((c) => c.messages.length > 0, 20_000, 'the first message of the resume');
      const rec = back.messages[0] as Message;
      expect(rec.type).toBe('recovered');
      for (const p of rec.series?.['bucket-volume'] ?? []) held.set(p.time, p);
      expect(held.get(bucket)).toEqual(await served());
    } finally {
      back.close();
    }
  }, 60_000);
});
