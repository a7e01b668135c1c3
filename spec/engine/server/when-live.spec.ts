import type HyperExpress from 'hyper-express';
import { describe, expect, it } from 'vitest';
import { seriesId } from '../../../engine/src/domain/series-id.ts';
import type { DemandOutcome, SeriesDemand } from '../../../engine/src/pipeline/series-demand.ts';
import { whenLive } from '../../../engine/src/server/when-live.ts';

/** A response that records what was sent. */
function response() {
  const sent: { status?: number; headers: Record<string, string>; body?: unknown } = { headers: {} };
  const aborted: Array<() => void> = [];
  const res = {
    closed: false,
    once(ev: string, fn: () => void) {
      if (ev === 'abort') aborted.push(fn);
      return res;
    },
    /** The client went away (hyper-express emits `abort`, then the response is closed). */
    abort() {
      res.closed = true;
      for (const fn of aborted.splice(0)) fn();
    },
    status(s: number) {
      sent.status = s;
      return res;
    },
    header(k: string, v: string) {
      sent.headers[k] = v;
      return res;
    },
    json(b: unknown) {
      sent.body = b;
    },
  };
  return { res: res as unknown as HyperExpress.Response, sent, abort: () => res.abort() };
}

/** A demand whose asks settle when the test says; counts holds. */
function demand(settle: Promise<DemandOutcome>) {
  let held = 0;
  const d: SeriesDemand = {
    isLive: () => false,
    want: () => ((held++), settle),
    touch: () => {},
    release: () => void held--,
  };
  return { d, held: () => held };
}

const id = seriesId('ETHUSDT', '1m');

describe('whenLive', () => {
  it('answers 503 loading after the wait and lets go of the hold; the ask settling later changes nothing', async () => {
    let settle!: (o: DemandOutcome) => void;
    const { d, held } = demand(new Promise((r) => (settle = r)));
    const { res, sent } = response();
    let read = false;
    await whenLive(d, () => {}, 20)(id, '192.0.2.1', res, () => void (read = true));
    expect(sent).toMatchObject({ status: 503, headers: { 'retry-after': '5' }, body: { code: 'loading' } });
    expect(held()).toBe(0);
    settle({ ok: true });
    await new Promise((r) => setTimeout(r, 10));
    expect(read).toBe(false);
    expect(held()).toBe(0);
  });

  it('reads once the series is live within the wait, then lets go', async () => {
    const { d, held } = demand(new Promise((r) => setTimeout(() => r({ ok: true }), 5)));
    const { res } = response();
    let read = false;
    await whenLive(d, () => {}, 1000)(id, '192.0.2.1', res, () => void (read = true));
    expect(read).toBe(true);
    expect(held()).toBe(0);
  });

  it('fails as the ask fails within the wait; an ask failing after it is ignored (no unhandled rejection)', async () => {
    const { d } = demand(Promise.reject(new Error('redis gone')));
    await expect(whenLive(d, () => {}, 1000)(id, '192.0.2.1', response().res, () => {})).rejects.toThrow('redis gone');
    const late = demand(new Promise((_, reject) => setTimeout(() => reject(new Error('late')), 30)));
    const { res, sent } = response();
    await whenLive(late.d, () => {}, 5)(id, '192.0.2.1', res, () => {});
    expect(sent.status).toBe(503);
    await new Promise((r) => setTimeout(r, 60));
  });

  it('lets go at once when the client goes away while it waits: nothing is read or sent', async () => {
    let settle!: (o: DemandOutcome) => void;
    const { d, held } = demand(new Promise((r) => (settle = r)));
    const { res, sent, abort } = response();
    let read = false;
    const done = whenLive(d, () => {}, 60_000)(id, '192.0.2.1', res, () => void (read = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(held()).toBe(1);
    abort();
    await done;
    expect(held()).toBe(0);
    expect(sent).toEqual({ headers: {} });
    settle({ ok: true });
    await new Promise((r) => setTimeout(r, 10));
    expect(read).toBe(false);
    expect(held()).toBe(0);
  });

  it('holds a live series while it reads, and lets go after, a failed read too (freed meanwhile, its read made a window nobody tracked)', async () => {
    let held = 0;
    const heldDuringRead: number[] = [];
    const d: SeriesDemand = { isLive: () => true, want: () => (held++, Promise.resolve({ ok: true })), touch: () => {}, release: () => void held-- };
    const { res } = response();
    await whenLive(d, () => {})(id, '192.0.2.1', res, async () => {
      await new Promise((r) => setTimeout(r, 5));
      heldDuringRead.push(held);
    });
    expect(heldDuringRead).toEqual([1]);
    expect(held).toBe(0);
    await expect(whenLive(d, () => {})(id, '192.0.2.1', res, () => Promise.reject(new Error('REST failed')))).rejects.toThrow('REST failed');
    expect(held).toBe(0);
  });
});
