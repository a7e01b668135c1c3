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

/**
 * A module whose defaults can never run was loaded, and every request for it failed later (a quant
 * review): a warm-up function over the cap for its defaults, default parameters the operator refuses,
 * a NaN default (label `k=NaN`), `warmup: '200'` said as "got 200". Each is refused at load, naming the file.
 */
describe('loadSeriesModules refuses a module whose defaults cannot run', () => {
  const mod = (body: string) => `import { defineSeries } from ${JSON.stringify(defineUrl)};
import { map } from 'rxjs';
const op = () => map((b) => ({ time: b.openTime, value: b.close, closed: b.closed }));
export default ${body};
`;
  it('a warm-up function giving more bars than the engine keeps for the defaults, on every interval', async () => {
    const d = moduleDir({ 'warmfn.ts': mod(`defineSeries({ name: 'warmfn', pane: 'oscillator', params: { period: 7 }, warmup: ({ period }) => period * 1000, operator: op })`) });
    await expect(loadSeriesModules(d)).rejects.toThrow(/warmfn\.ts .*warmfn: warmup for the default parameters is more than the 5000 bars the engine keeps on every interval \(7000 bars on 1s\)/);
  });

  it('a warm-up function that throws or gives no whole number for the defaults (on its pinned interval)', async () => {
    let d = moduleDir({ 'wthrow.ts': mod(`defineSeries({ name: 'wthrow', pane: 'oscillator', params: {}, warmup: () => { throw new Error('no warm-up'); }, operator: op })`) });
    await expect(loadSeriesModules(d)).rejects.toThrow(/wthrow\.ts .*wthrow: warmup threw for the default parameters on 1s: no warm-up/);
    rmSync(dir, { recursive: true, force: true });
    d = moduleDir({ 'whalf.ts': mod(`defineSeries({ name: 'whalf', pane: 'oscillator', interval: '5m', params: {}, warmup: () => 2.5, operator: op })`) });
    await expect(loadSeriesModules(d)).rejects.toThrow(/whalf\.ts .*whalf: warmup for the default parameters on 5m must be an integer of bars from 0 to 5000, got 2\.5/);
  });

  it('default parameters the operator refuses when built', async () => {
    const d = moduleDir({ 'baddef.ts': mod(`defineSeries({ name: 'baddef', pane: 'oscillator', params: { fast: 30, slow: 21 }, operator: ({ fast, slow }) => { if (!(fast < slow)) throw new TypeError(\`emaCross: fast (\${fast}) must be below slow (\${slow})\`); return op(); } })`) });
    await expect(loadSeriesModules(d)).rejects.toThrow(/baddef\.ts .*baddef: emaCross: fast \(30\) must be below slow \(21\)/);
  });

  it('a default that is not a finite number, naming the parameter', async () => {
    const d = moduleDir({ 'nandef.ts': mod(`defineSeries({ name: 'nandef', pane: 'oscillator', params: { period: 7, k: NaN }, operator: op })`) });
    await expect(loadSeriesModules(d)).rejects.toThrow(/nandef\.ts .*nandef: parameter 'k' defaults to NaN: a number parameter must default to a finite number/);
    rmSync(dir, { recursive: true, force: true });
    const e = moduleDir({ 'infdef.ts': mod(`{ name: 'infdef', pane: 'oscillator', params: { z: -Infinity }, operator: op }`) });
    await expect(loadSeriesModules(e)).rejects.toThrow(/infdef\.ts is invalid: infdef: parameter 'z' defaults to -Infinity/);
  });

  it('warmup given as a string says it was a string', async () => {
    const d = moduleDir({ 'warmstr.ts': mod(`{ name: 'warmstr', pane: 'oscillator', warmup: '200', params: {}, operator: op }`) });
    await expect(loadSeriesModules(d)).rejects.toThrow(/warmstr\.ts is invalid: warmstr: warmup must be an integer of bars from 0 to 5000, got the string "200"/);
  });

  it('still loads a warm-up function over the cap on short intervals only (a refusal of those requests)', async () => {
    const d = moduleDir({ 'session.ts': mod(`defineSeries({ name: 'session', pane: 'oscillator', params: { hours: 24 }, warmup: ({ hours }, interval) => Math.ceil((hours * 3_600_000) / (interval === '1s' ? 1000 : 60_000)), operator: op })`) });
    expect((await loadSeriesModules(d)).map((x) => x.name)).toEqual(['session']);
  });
});
