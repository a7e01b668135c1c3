import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { readRecording } from '../../../engine/src/record/read-recording.ts';

const dir = mkdtempSync(join(tmpdir(), 'read-rec-'));
const meta = { k: 'meta', t: 1, symbols: ['BTCUSDT'], intervals: ['1m'], source: 'sim' };
// Frames that do not compress to nothing, so a cut lands inside the stream with lines before it.
const frames = Array.from({ length: 2000 }, (_, i) => ({ k: 'ws', t: 2 + i, d: `{"e":"kline","n":${i},"r":"${Math.random()}"}` }));
const file = (name: string, data: string | Buffer) => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};
const jsonl = (rows: unknown[]) => rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n';

describe('readRecording', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads every line of a whole recording', async () => {
    const r = await readRecording(file('whole.jsonl.gz', gzipSync(jsonl([meta, ...frames]))));
    expect(r.lines).toHaveLength(2001);
    expect(r.malformed).toBe(0);
    expect(r.endedEarly).toBeUndefined();
  });

  it('keeps the complete lines of a recording cut short (its recorder killed) and says it ended early', async () => {
    const whole = gzipSync(jsonl([meta, ...frames]));
    const r = await readRecording(file('cut.jsonl.gz', whole.subarray(0, Math.floor(whole.length * 0.6))));
    expect(r.lines[0]).toEqual(meta);
    expect(r.lines.length).toBeGreaterThan(500);
    expect(r.lines.length).toBeLessThan(2001);
    // Every line kept is a whole one, in order: the half line at the cut is dropped.
    expect(r.lines.slice(1)).toEqual(frames.slice(0, r.lines.length - 1));
    expect(r.malformed).toBe(0);
    expect(r.endedEarly).toMatch(/unexpected end of file/);
  });

  it('counts and skips malformed lines: not JSON, not a record, CRLF endings read', async () => {
    const text = jsonl([meta, 'not json', '{"k":"ws","t":"x","d":"a"}', '[1,2]', frames[0], '']).replace(/\n/g, '\r\n');
    const r = await readRecording(file('malformed.jsonl.gz', gzipSync(text)));
    expect(r.lines).toEqual([meta, frames[0]]);
    expect(r.malformed).toBe(3);
  });

  it('skips a line longer than 16 MiB as malformed without building it, and reads on', async () => {
    const huge = { k: 'ws', t: 5, d: 'a'.repeat(17 * 1024 * 1024) };
    const r = await readRecording(file('huge.jsonl.gz', gzipSync(jsonl([meta, huge, frames[0]]))));
    expect(r.lines).toEqual([meta, frames[0]]);
    expect(r.malformed).toBe(1);
  });

  it('refuses a file that is not a gzip recording, naming the path and why, without a zlib stack', async () => {
    const cases: Array<[string, RegExp]> = [
      [file('plain.jsonl', jsonl([meta])), /not gzip data: incorrect header check/],
      [file('empty.jsonl.gz', ''), /the file is empty/],
      [file('header-only.gz', gzipSync(jsonl([meta])).subarray(0, 12)), /not gzip data: unexpected end of file/],
      [join(dir, 'missing.jsonl.gz'), /cannot read it: ENOENT/],
      [(mkdirSync(join(dir, 'a-dir')), join(dir, 'a-dir')), /it is a directory/],
    ];
    for (const [path, why] of cases) {
      const err = await readRecording(path).then(() => undefined, (e: unknown) => e as Error & { info?: unknown });
      expect(err, path).toBeInstanceOf(Error);
      expect(err!.name, path).toBe('RecordingFileError');
      expect(err!.message, path).toMatch(why);
      expect(err!.info, path).toEqual({ path, reason: expect.stringMatching(why) });
    }
  });
});
