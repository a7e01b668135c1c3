import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { loadConfig } from '../../../engine/src/config/config.ts';
import { ConfigError } from '../../../engine/src/domain/errors.ts';
import { createLogger } from '../../../engine/src/log.ts';
import { connectExchange } from '../../../engine/src/pipeline/connect-exchange.ts';

const dir = mkdtempSync(join(tmpdir(), 'replay-start-'));
const meta = { k: 'meta', t: 1, symbols: ['BTCUSDT', 'ETHUSDT'], intervals: ['1m', '5m'], source: 'sim' };
const frames = Array.from({ length: 2000 }, (_, i) => ({ k: 'ws', t: 2 + i, d: `{"e":"kline","n":${i},"r":"${Math.random()}"}` }));
const jsonl = (rows: unknown[]) => rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n';
const file = (name: string, data: string | Buffer) => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};
const recording = (name: string, m: unknown, rows: unknown[] = frames) => file(name, gzipSync(jsonl([m, ...rows])));

function connect(path: string) {
  const lines: string[] = [];
  const log = createLogger('info', 'test', (l) => lines.push(l));
  const config = loadConfig({ SOURCE: 'replay', REPLAY_FILE: path, REPLAY_SPEED: 'max' });
  return { lines, started: connectExchange(config, log) };
}
/** The replay streams once the engine's socket connects: a plain client stands in for it. */
async function playAll(ex: { wsUrl: string; replay?: { done: Promise<void> } }) {
  const ws = new WebSocket(ex.wsUrl);
  ws.on('error', () => undefined);
  await ex.replay!.done;
  ws.terminate();
}
async function refusal(path: string): Promise<ConfigError> {
  const { started } = connect(path);
  const outcome = await started.then(
    async (ex) => (await ex.close(), undefined),
    (e: unknown) => e,
  );
  expect(outcome, path).toBeInstanceOf(ConfigError);
  return outcome as ConfigError;
}

describe('SOURCE=replay: what REPLAY_FILE holds', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('replays a recording cut short up to its cut, with one warning saying how many lines were read', async () => {
    const whole = gzipSync(jsonl([meta, ...frames]));
    const path = file('cut.jsonl.gz', whole.subarray(0, Math.floor(whole.length * 0.6)));
    const { lines, started } = connect(path);
    const ex = await started;
    try {
      expect(ex.symbols).toEqual(meta.symbols);
      await playAll(ex);
      const sent = ex.replay!.stats.framesSent;
      expect(sent).toBeGreaterThan(500);
      expect(sent).toBeLessThan(frames.length);
      const warns = lines.filter((l) => / WARN /.test(l));
      expect(warns).toHaveLength(1);
      expect(warns[0]).toContain(`REPLAY_FILE ${path} ends early`);
      expect(warns[0]).toContain(`${sent + 1} complete lines`);
    } finally {
      await ex.close();
    }
  });

  it('counts and skips malformed lines, with a warning, and replays the rest', async () => {
    const path = recording('malformed.jsonl.gz', meta, ['garbage', frames[0], '{"k":"rest","t":1,"a":1,"q":"//","s":200,"b":"[]"}', frames[1]]);
    const { lines, started } = connect(path);
    const ex = await started;
    try {
      await playAll(ex);
      expect(ex.replay!.stats).toMatchObject({ framesSent: 2, malformedLines: 2 });
      expect(lines.filter((l) => / WARN /.test(l) && l.includes('malformed lines skipped lines=2'))).toHaveLength(1);
    } finally {
      await ex.close();
    }
  });

  it('refuses a file that is not a recording with a ConfigError naming REPLAY_FILE, the path and why', async () => {
    const cases: Array<[string, RegExp]> = [
      [file('plain.jsonl', jsonl([meta, ...frames])), /not gzip data/],
      [file('empty.jsonl.gz', ''), /empty/],
      [join(dir, 'missing.jsonl.gz'), /ENOENT/],
      [(mkdirSync(join(dir, 'a-dir')), join(dir, 'a-dir')), /directory/],
      [recording('no-meta.jsonl.gz', frames[0]), /no meta line/],
    ];
    for (const [path, why] of cases) {
      const err = await refusal(path);
      expect(err.message.startsWith(`REPLAY_FILE=${JSON.stringify(path)} is invalid: expected `), err.message).toBe(true);
      expect(err.message).toMatch(why);
      expect(err.message).not.toContain('\n');
      expect(err.info).toMatchObject({ variable: 'REPLAY_FILE', value: path });
    }
  });

  it('refuses a recording of an unknown format version, or with nothing to play, naming REPLAY_FILE (reproduced: a replay that served nothing)', async () => {
    const rest = { k: 'rest', t: 1, a: 1, q: '/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=2', s: 200, b: '[[60000,"1"]]' };
    const cases: Array<[string, RegExp]> = [
      [recording('v2.jsonl.gz', { ...meta, version: 2 }), /its meta line says format version 2: this engine reads version 1/],
      [recording('v-text.jsonl.gz', { ...meta, version: 'x' }), /format version "x"/],
      [recording('meta-only.jsonl.gz', meta, []), /nothing to play: no frames and no REST answers \(0 malformed lines\)/],
      // A newer format's lines are all malformed to this engine: nothing in them can be played.
      [recording('foreign.jsonl.gz', meta, [{ kind: 'ws', t: 2, d: '{}' }, { kind: 'rest', t: 2 }]), /nothing to play: no frames and no REST answers \(2 malformed lines\)/],
      [recording('mostly-garbage.jsonl.gz', meta, [frames[0], ...Array.from({ length: 40 }, (_, i) => `garbage ${i}`)]), /40 of its 42 lines are malformed/],
    ];
    for (const [path, why] of cases) {
      const err = await refusal(path);
      expect(err.message.startsWith(`REPLAY_FILE=${JSON.stringify(path)} is invalid: `), err.message).toBe(true);
      expect(err.message).toMatch(why);
    }
    // Still played: no version (written before it existed) or this one; only REST answers; a few bad lines.
    for (const [name, m, rows] of [
      ['v-none.jsonl.gz', meta, frames.slice(0, 3)],
      ['v1.jsonl.gz', { ...meta, version: 1 }, frames.slice(0, 3)],
      ['answers-only.jsonl.gz', meta, [rest]],
      ['some-garbage.jsonl.gz', meta, [...frames.slice(0, 10), 'garbage', 'garbage']],
    ] as const) {
      const ex = await connect(recording(name, m, [...rows])).started;
      await ex.close();
    }
  });

  it('refuses a hostile or empty meta line: symbols and intervals must be what SYMBOLS and INTERVALS accept', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ ...meta, symbols: [] }, /no symbols/],
      [{ ...meta, intervals: [] }, /no intervals/],
      [{ ...meta, symbols: [1, 'BTCUSDT'] }, /invalid symbol 1/],
      [{ ...meta, symbols: ['BTCUSDT', '../../etc'] }, /invalid symbol "..\/..\/etc"/],
      [{ ...meta, symbols: ['<img src=x onerror=alert(1)>'] }, /invalid symbol/],
      [{ ...meta, intervals: ['1m', '7x'] }, /invalid interval "7x"/],
      [{ ...meta, intervals: [null] }, /invalid interval null/],
      // `*` stands alone, as in SYMBOLS.
      [{ ...meta, symbols: ['*', 'BTCUSDT'] }, /invalid symbol "\*"/],
      // Its time names the replay's Redis namespace.
      [{ ...meta, t: -5 }, /no valid time/],
      [{ ...meta, t: 1e300 }, /no valid time/],
    ];
    for (const [i, [m, why]] of cases.entries()) {
      const path = recording(`meta-${i}.jsonl.gz`, m);
      const err = await refusal(path);
      expect(err.message, JSON.stringify(m)).toMatch(new RegExp(`^REPLAY_FILE=${JSON.stringify(path).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is invalid: `));
      expect(err.message, JSON.stringify(m)).toMatch(why);
    }
  });

  it('serves the symbols the recording holds bars of beside its meta line\'s; with `*` those are its symbols; names no engine could ask for are left out (a review: they become Redis keys)', async () => {
    const kline = (symbol: string, interval: string, t: number, stream = `${symbol.toLowerCase()}@kline_${interval}`) => ({
      k: 'ws',
      t: t + 1,
      d: JSON.stringify({ stream, data: { e: 'kline', E: t + 1, s: symbol, k: { t, T: t + 59_999, s: symbol, i: interval, o: '1', c: '2', h: '3', l: '0.5', v: '1', n: 1, x: false, q: '1', V: '1', Q: '1', B: '0' } } }),
    });
    const page = (symbol: string, interval: string) => ({ k: 'rest', t: 1, a: 1, q: `/api/v3/klines?symbol=${encodeURIComponent(symbol)}&interval=${interval}&limit=1`, s: 200, b: '[[60000,"1","2","0.5","1.5","1",119999,"1",1,"1","1","0"]]' });
    const rows = [
      kline('BTCUSDT', '1m', 120_000),
      kline('SOLUSDT', '1m', 180_000),
      kline('SOLUSDT', '1m', 240_000),
      page('XRPUSDT', '5m'),
      // Not Binance's grammar, not an interval, a stream that names another symbol: none is served.
      kline('BTC/USD', '1m', 120_000),
      page('../../etc', '1m'),
      page('DOGEUSDT', '7x'),
      kline('ADAUSDT', '1m', 120_000, 'evilusdt@kline_1m'),
    ];
    const listed = await connect(recording('on-demand.jsonl.gz', meta, rows)).started;
    try {
      expect(listed.symbols).toEqual(['BTCUSDT', 'ETHUSDT']);
      expect(listed.markets).toEqual(['BTCUSDT', 'ETHUSDT', 'SOLUSDT', 'XRPUSDT']);
      expect(listed.replay!.firstBar('SOLUSDT', '1m')).toBe(180_000);
      expect(listed.replay!.firstBar('XRPUSDT', '5m')).toBe(60_000);
      expect(listed.replay!.firstBar('ETHUSDT', '1m')).toBeUndefined();
    } finally {
      await listed.close();
    }
    const all = await connect(recording('universe.jsonl.gz', { ...meta, symbols: ['*'] }, rows)).started;
    try {
      expect(all.symbols).toEqual(['BTCUSDT', 'SOLUSDT', 'XRPUSDT']);
      expect(all.markets).toEqual(['BTCUSDT', 'SOLUSDT', 'XRPUSDT']);
    } finally {
      await all.close();
    }
    const err = await refusal(recording('universe-empty.jsonl.gz', { ...meta, symbols: ['*'] }, frames.slice(0, 3)));
    expect(err.message).toMatch(/its meta line says '\*' \(the whole exchange\) and it holds no bar of any symbol/);
  });
});
