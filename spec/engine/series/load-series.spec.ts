import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadSeriesModules } from '../../../engine/src/series/load-series.ts';

const defineUrl = resolve('engine/src/series/define-series.ts');
let dir = '';
afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

function moduleDir(files: Record<string, string>): string {
  dir = mkdtempSync(join(tmpdir(), 'series-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const good = (name: string) => `import { defineSeries } from ${JSON.stringify(defineUrl)};
import { map } from 'rxjs';
export default defineSeries({ name: '${name}', pane: 'overlay', params: { n: 1 }, operator: () => map((b) => ({ time: b.openTime, value: b.close, closed: b.closed })) });
`;

describe('loadSeriesModules', () => {
  it('loads valid modules', async () => {
    const defs = await loadSeriesModules(moduleDir({ 'a.ts': good('alpha'), 'b.ts': good('beta') }));
    expect(defs.map((d) => d.name)).toEqual(['alpha', 'beta']);
  });

  it('rejects a module without a valid default export, naming the file', async () => {
    const d = moduleDir({ 'a.ts': good('alpha'), 'broken.ts': 'export default { name: "Bad Name", pane: "overlay", params: {}, operator: () => (s) => s };' });
    await expect(loadSeriesModules(d)).rejects.toThrow(/series module .*broken\.ts is invalid: name "Bad Name" must match/);
  });

  it('rejects a module that fails to import, and duplicate names', async () => {
    await expect(loadSeriesModules(moduleDir({ 'x.ts': 'throw new Error("nope at import")' }))).rejects.toThrow(/x\.ts failed to load: nope at import/);
    rmSync(dir, { recursive: true, force: true });
    await expect(loadSeriesModules(moduleDir({ 'a.ts': good('same'), 'b.ts': good('same') }))).rejects.toThrow(/b\.ts: name 'same' is already used/);
  });

  it('ships examples that load', async () => {
    dir = '';
    const defs = await loadSeriesModules('series');
    expect(defs.length).toBeGreaterThanOrEqual(2);
  });
});

describe('loadSeriesModules contains user code at import (reproduced: a loop or a huge allocation at import hung the start)', () => {
  it('fails naming the file when a module loops at import', async () => {
    const d = moduleDir({ 'spin.ts': 'while (true) {}\nexport default {};' });
    await expect(loadSeriesModules(d, { timeoutMs: 3000 })).rejects.toThrow(/series module .*spin\.ts did not finish loading within 3 s/);
  });

  it('fails naming the file, and saying why, when its top-level await never settles (was: "stopped while loading (exit code 13)")', async () => {
    const d = moduleDir({ 'stuck.mjs': 'await new Promise(() => {});\nexport default {};' });
    await expect(loadSeriesModules(d, { timeoutMs: 5000 })).rejects.toThrow(/series module .*stuck\.mjs never finished loading: its top-level await waits on nothing/);
  });

  it('fails naming the file when a module allocates without end at import', async () => {
    const d = moduleDir({ 'hog.ts': 'const keep: number[][] = [];\nwhile (true) keep.push(new Array(1e6).fill(1));\nexport default {};' });
    await expect(loadSeriesModules(d, { maxHeapMb: 64, timeoutMs: 20_000 })).rejects.toThrow(/series module .*hog\.ts ran out of memory while loading \(limit 64 MB\)/);
  });
});
