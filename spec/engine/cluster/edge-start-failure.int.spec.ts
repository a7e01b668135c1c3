import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startEdge } from '../../../engine/src/cluster/edge-node.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';

const defineUrl = resolve('engine/src/series/define-series.ts');
let dir = '';
afterEach(() => {
  vi.restoreAllMocks();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A module pinned to an interval the edge does not serve: the start stops after the feed, the leader's presence and the status timer are made. */
const pinned = `import { defineSeries } from ${JSON.stringify(defineUrl)};
import { map } from 'rxjs';
export default defineSeries({ name: 'range10m', pane: 'oscillator', interval: '10m', params: {}, warmup: 0, operator: () => map((b) => ({ time: b.openTime, value: b.high - b.low, closed: b.closed })) });
`;

const redisUp = await hasRedis('an edge whose start fails');

/**
 * An edge whose start failed after it began following Redis (a SERIES_DIR module it cannot run, a
 * port taken) closed its connections but left its feed's position check, the status and leader
 * presence timers and their listeners running for the life of the process (a leak review: every
 * interval made by the failed start was still set, polling closed connections).
 */
describe('an edge whose start fails', () => {
  it.runIf(redisUp)('clears every interval it set', async () => {
    dir = mkdtempSync(join(tmpdir(), 'edge-start-failure-'));
    writeFileSync(join(dir, 'range10m.ts'), pinned);
    const made = new Set<unknown>();
    const cleared = new Set<unknown>();
    const set = globalThis.setInterval;
    const clear = globalThis.clearInterval;
    vi.spyOn(globalThis, 'setInterval').mockImplementation(((...args: Parameters<typeof setInterval>) => {
      const t = set(...args);
      made.add(t);
      return t;
    }) as typeof setInterval);
    vi.spyOn(globalThis, 'clearInterval').mockImplementation(((t?: Parameters<typeof clearInterval>[0]) => {
      cleared.add(t);
      clear(t);
    }) as typeof clearInterval);
    await expect(
      startEdge({ redisUrl: REDIS_URL, redisKeyPrefix: 'edge-start-failure:', port: 0, host: '127.0.0.1', symbols: ['BTCUSDT'], intervals: ['1m', '5m'], seriesDir: dir, clientDir: '', log: silentLogger }),
    ).rejects.toThrow(/pinned to interval 10m/);
    const left = [...made].filter((t) => !cleared.has(t));
    for (const t of left) clear(t as NodeJS.Timeout);
    expect(made.size, 'intervals the start set').toBeGreaterThan(0);
    expect(left.length, 'intervals still set after the start failed').toBe(0);
  }, 60_000);
});
