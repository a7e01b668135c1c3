import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readRecording } from '../../../engine/src/record/read-recording.ts';
import { Recorder } from '../../../engine/src/record/recorder.ts';
import type { RecordLine } from '../../../engine/src/record/recording-format.ts';
import { hasDevFull } from '../../helpers/services.ts';

const dir = mkdtempSync(join(tmpdir(), 'recorder-'));
/** A full disk: /dev/full (a plain skip outside CI, a failure under CI=true when it is missing). */
const devFull = await hasDevFull('Recorder on a full disk');
const meta: RecordLine = { k: 'meta', t: 1, symbols: ['BTCUSDT'], intervals: ['1m'], source: 'sim' };
const frame = (i: number): RecordLine => ({ k: 'ws', t: 2 + i, d: `{"n":${i},"r":"${Math.random()}"}` });

/** What opening a recorder at `path` threw, if it did. */
function refusal(path: string): (Error & { info?: unknown }) | undefined {
  try {
    new Recorder(path, { onError: () => undefined });
  } catch (e) {
    return e as Error;
  }
  return undefined;
}

describe('Recorder', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes gzip JSON lines that readRecording reads back', async () => {
    const path = join(dir, 'ok.jsonl.gz');
    const errors: Error[] = [];
    const rec = new Recorder(path, { onError: (e) => errors.push(e) });
    rec.write(meta);
    for (let i = 0; i < 100; i++) rec.write(frame(i));
    await rec.close();
    rec.write(frame(100)); // a late frame after close is dropped, not an error
    expect(errors).toEqual([]);
    const r = await readRecording(path);
    expect(r.lines).toHaveLength(101);
    expect(r.endedEarly).toBeUndefined();
  });

  it('stops, once, when more waits for the compressor or the disk than it may hold (frames faster than gzip: it grew without a bound)', async () => {
    const path = join(dir, 'flood.jsonl.gz');
    const errors: Error[] = [];
    const rec = new Recorder(path, { onError: (e) => errors.push(e), maxBufferedBytes: 1 << 20 });
    rec.write(meta);
    // 8 MiB in one turn: gzip has taken none of it when the cap is passed.
    const big = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 128; i++) rec.write({ k: 'ws', t: 2 + i, d: big });
    expect(rec.stopped).toBe(true);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/cannot keep up/);
    expect(rec.lines).toBeLessThan(20);
    await expect(rec.failure).resolves.toBe(errors[0]);
  });

  it('refuses at once a path that cannot be opened for writing, naming it and why', () => {
    const cases: Array<[string, RegExp]> = [
      [dir, /EISDIR/],
      [join(dir, 'no-such-dir', 'x.jsonl.gz'), /ENOENT/],
    ];
    for (const [path, why] of cases) {
      const err = refusal(path);
      expect(err?.name, path).toBe('RecordingFileError');
      expect(err!.message, path).toContain(path);
      expect(err!.info, path).toEqual({ path, reason: expect.stringMatching(why) });
    }
    expect(existsSync(join(dir, 'no-such-dir'))).toBe(false);
  });

  it.skipIf(process.platform !== 'linux')('refuses a FIFO or a device without opening it (reproduced: the open waited for a reader, the start hung)', () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // A reader is held open so that, were the FIFO opened after all, the open returns instead of hanging the test.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      for (const [path, why] of [
        [fifo, 'it is a named pipe (FIFO), not a regular file'],
        ['/dev/zero', 'it is a character device, not a regular file'],
      ] as const) {
        const err = refusal(path);
        expect(err?.name, path).toBe('RecordingFileError');
        expect(err!.info, path).toEqual({ path, reason: why });
      }
    } finally {
      closeSync(reader);
    }
  });

  it.skipIf(!existsSync('/dev/null'))('takes /dev/null (record nothing) and a path that does not exist yet', async () => {
    for (const path of ['/dev/null', join(dir, 'new.jsonl.gz')]) {
      const errors: Error[] = [];
      const rec = new Recorder(path, { onError: (e) => errors.push(e) });
      rec.write(meta);
      await rec.close();
      expect(errors, path).toEqual([]);
    }
    expect(existsSync(join(dir, 'new.jsonl.gz'))).toBe(true);
  });

  it.runIf(devFull)('stops on a write error (disk full: /dev/full), reports it once, and closes', async () => {
    const errors: Error[] = [];
    const rec = new Recorder('/dev/full', { onError: (e) => errors.push(e) });
    rec.write(meta);
    // More than gzip buffers, so it writes to the device while recording runs.
    for (let i = 0; i < 5000; i++) rec.write(frame(i));
    await expect.poll(() => errors.length, { timeout: 5000 }).toBe(1);
    expect((errors[0] as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect(rec.stopped).toBe(true);
    const written = rec.lines;
    for (let i = 0; i < 5000; i++) rec.write(frame(i));
    expect(rec.lines).toBe(written);
    await rec.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(errors).toHaveLength(1);
    // The record CLI exits on it.
    expect(await rec.failure).toBe(errors[0]);
  });
});

describe('Recorder while it runs', () => {
  const live = mkdtempSync(join(tmpdir(), 'recorder-live-'));
  afterAll(() => rmSync(live, { recursive: true, force: true }));

  it('flushes what it wrote within about a second, so a killed recorder loses at most that (reproduced: 0 frames on disk after 90 s)', async () => {
    const path = join(live, 'running.jsonl.gz');
    const rec = new Recorder(path, { onError: () => undefined });
    try {
      rec.write(meta);
      for (let i = 0; i < 50; i++) rec.write(frame(i));
      // Read while it still records, never closed: what a kill -9 leaves on disk.
      await expect.poll(async () => (await readRecording(path).catch(() => ({ lines: [] }))).lines.length, { timeout: 5000, interval: 250 }).toBe(51);
      for (let i = 50; i < 80; i++) rec.write(frame(i));
      await expect.poll(async () => (await readRecording(path).catch(() => ({ lines: [] }))).lines.length, { timeout: 5000, interval: 250 }).toBe(81);
    } finally {
      await rec.close();
    }
    expect((await readRecording(path)).lines).toHaveLength(81);
  });

  it('never overwrites a recording already at its path: moves it aside, named after its time, and records anew', async () => {
    const path = join(live, 'run.jsonl.gz');
    const first = new Recorder(path, { onError: () => undefined });
    first.write(meta);
    first.write(frame(1));
    await first.close();
    expect(first.movedAside).toBeUndefined();
    const mtime = statSync(path).mtime;

    const second = new Recorder(path, { onError: () => undefined });
    second.write(meta);
    await second.close();
    const aside = join(live, `run.${mtime.toISOString().replace(/:/g, '-')}.jsonl.gz`);
    expect(second.movedAside).toBe(aside);
    expect((await readRecording(aside)).lines).toHaveLength(2);
    expect((await readRecording(path)).lines).toHaveLength(1);

    // An empty file holds nothing to keep: it is simply reused.
    const empty = join(live, 'empty.jsonl.gz');
    writeFileSync(empty, '');
    const third = new Recorder(empty, { onError: () => undefined });
    await third.close();
    expect(third.movedAside).toBeUndefined();
    expect(readdirSync(live).filter((f) => f.startsWith('empty'))).toEqual(['empty.jsonl.gz']);
  });
});
