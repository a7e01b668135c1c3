import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkPinnedIntervals, loadSeriesModules } from '../../../engine/src/series/load-series.ts';
import { startEdge } from '../../../engine/src/cluster/edge-node.ts';
import { silentLogger } from '../../../engine/src/log.ts';
import { hasRedis, REDIS_URL } from '../../helpers/services.ts';
import { startTestApp } from '../../helpers/test-app.ts';

const defineUrl = resolve('engine/src/series/define-series.ts');
let dir = '';
afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

const pinned = (interval: string) => `import { defineSeries } from ${JSON.stringify(defineUrl)};
import { map } from 'rxjs';
export default defineSeries({ name: 'range10m', pane: 'oscillator', interval: '${interval}', params: {}, warmup: 0, operator: () => map((b) => ({ time: b.openTime, value: b.high - b.low, closed: b.closed })) });
`;

/**
 * A series pinned to an interval the engine does not serve loaded, was listed by GET /series, and
 * every request for it was refused (a quant review): only INTERVALS are served, on demand too. The
 * start now stops, naming the module, SERIES_DIR and INTERVALS, before any connection is opened.
 */
const redisUp = await hasRedis('a derived series pinned to an interval an edge does not serve');

describe('a derived series pinned to an interval the engine does not serve', () => {
  it('stops the start with a message naming the module, SERIES_DIR and INTERVALS', async () => {
    dir = mkdtempSync(join(tmpdir(), 'series-pinned-'));
    writeFileSync(join(dir, 'range10m.ts'), pinned('10m'));
    await expect(startTestApp({ source: 'sim', symbols: ['BTCUSDT'], intervals: ['1m', '5m'], seriesDir: dir })).rejects.toThrow(
      new RegExp(`series module .*range10m\\.ts \\(SERIES_DIR=${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\): 'range10m' is pinned to interval 10m, which this engine does not serve \\(INTERVALS=1m,5m\\)`),
    );
  }, 60_000);

  it.runIf(redisUp)('stops an edge too (a diff review: it started, then refused every request)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'series-pinned-'));
    writeFileSync(join(dir, 'range10m.ts'), pinned('10m'));
    await expect(startEdge({ redisUrl: REDIS_URL, redisKeyPrefix: 'pinned-edge:', port: 0, host: '127.0.0.1', symbols: ['BTCUSDT'], intervals: ['1m', '5m'], seriesDir: dir, clientDir: '', log: silentLogger })).rejects.toThrow(
      /series module .*range10m\.ts .*'range10m' is pinned to interval 10m, which this engine does not serve \(INTERVALS=1m,5m\)/,
    );
  }, 60_000);

  it('is accepted when INTERVALS has it (custom intervals included)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'series-pinned-'));
    writeFileSync(join(dir, 'range10m.ts'), pinned('10m'));
    const defs = await loadSeriesModules(dir);
    expect(() => checkPinnedIntervals(defs, ['1m', '10m'], dir)).not.toThrow();
    expect(() => checkPinnedIntervals(defs, ['1m'], dir)).toThrow(/range10m\.ts .*INTERVALS=1m/);
  }, 60_000);
});
