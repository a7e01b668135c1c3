import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../engine/src/domain/errors.ts';
import type { AppOptions } from '../../../engine/src/app.ts';
import { createLogger } from '../../../engine/src/log.ts';
import { childEnv } from '../../helpers/child-env.ts';
import { hasDevFull } from '../../helpers/services.ts';
import { startTestApp } from '../../helpers/test-app.ts';

const dir = mkdtempSync(join(tmpdir(), 'record-file-'));
/** A full disk: /dev/full (a plain skip outside CI, a failure under CI=true when it is missing). */
const devFull = await hasDevFull('RECORD_FILE on a full disk');
const sim: AppOptions = { source: 'sim', symbols: ['BTCUSDT', 'ETHUSDT'], intervals: ['1m', '5m'], simOptions: { pushIntervalMs: 20, clockSpeed: 60 } };

/** Runs an entry point as `npm start` / `npm run record` do; its exit status and stderr lines. */
function run(args: string[], env: Record<string, string>): Promise<{ status: number | null; stderr: string[] }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { env: childEnv({ PORT: '0', CLIENT_DIR: '', LOG_LEVEL: 'warn', ...env }) });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // A start that should have failed but serves instead is stopped, and its status is not 2.
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stderr: err.split('\n').filter(Boolean) });
    });
  });
}

describe('RECORD_FILE and REPLAY_FILE that cannot be used', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.runIf(devFull)('a full disk stops the recording with one warning; the engine keeps serving', async () => {
    const lines: string[] = [];
    const app = await startTestApp({ ...sim, recordFile: '/dev/full', log: createLogger('warn', 'test', (l) => lines.push(l)) });
    try {
      await app.ready;
      await expect.poll(() => lines.filter((l) => l.includes('recording stopped')).length, { timeout: 10_000 }).toBe(1);
      const warn = lines.find((l) => l.includes('recording stopped'))!;
      expect(warn).toContain('RECORD_FILE /dev/full');
      expect(warn).toContain('ENOSPC');
      // Still live a while later: bars keep coming and the server answers.
      const before = app.metrics.value('engine_upstream_frames_total');
      await new Promise((r) => setTimeout(r, 1500));
      expect(app.metrics.value('engine_upstream_frames_total')).toBeGreaterThan(before);
      expect((await fetch(`${app.url}/health`)).status).toBe(200);
      expect(lines.filter((l) => l.includes('recording stopped'))).toHaveLength(1);
    } finally {
      await app.stop();
    }
  });

  it('a RECORD_FILE that cannot be opened fails the start with a ConfigError naming it', async () => {
    for (const [path, why] of [
      [dir, /EISDIR/],
      [join(dir, 'missing', 'x.jsonl.gz'), /ENOENT/],
    ] as const) {
      const err = await startTestApp({ ...sim, recordFile: path }).then(
        async (app) => (await app.stop(), undefined),
        (e: unknown) => e,
      );
      expect(err, path).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toMatch(new RegExp(`^RECORD_FILE="${path}" is invalid: expected a file that can be written \\(cannot open it for writing: `));
      expect((err as ConfigError).message).toMatch(why);
    }
  });

  it('npm start: a bad RECORD_FILE or REPLAY_FILE exits 2 with one configuration-error line, no stack', async () => {
    const empty = join(dir, 'empty.jsonl.gz');
    writeFileSync(empty, '');
    const [rec, rep] = await Promise.all([
      run(['engine/src/main.ts'], { SOURCE: 'sim', SYMBOLS: 'BTCUSDT', INTERVALS: '1m', RECORD_FILE: dir }),
      run(['engine/src/main.ts'], { SOURCE: 'replay', REPLAY_FILE: empty }),
    ]);
    expect(rec.status).toBe(2);
    expect(rec.stderr.filter((l) => !/ WARN /.test(l))).toEqual([expect.stringMatching(new RegExp(`^configuration error: RECORD_FILE="${dir}" is invalid: .*EISDIR`))]);
    expect(rep.status).toBe(2);
    expect(rep.stderr).toEqual([`configuration error: REPLAY_FILE="${empty}" is invalid: expected a gzip recording made with RECORD_FILE (the file is empty)`]);
  });

  it('npm start: a REPLAY_FILE of an unknown format version or with nothing to play exits 2 naming REPLAY_FILE (reproduced: it served nothing)', { timeout: 45_000 }, async () => {
    const meta = { k: 'meta', t: 1, symbols: ['BTCUSDT'], intervals: ['1m'], source: 'sim' };
    const v2 = join(dir, 'v2.jsonl.gz');
    writeFileSync(v2, gzipSync(`${JSON.stringify({ ...meta, version: 2 })}\n${JSON.stringify({ k: 'ws', t: 2, d: '{}' })}\n`));
    const bare = join(dir, 'meta-only.jsonl.gz');
    writeFileSync(bare, gzipSync(`${JSON.stringify(meta)}\n`));
    const a = await run(['engine/src/main.ts'], { SOURCE: 'replay', REPLAY_FILE: v2 });
    const b = await run(['engine/src/main.ts'], { SOURCE: 'replay', REPLAY_FILE: bare });
    expect(a.status).toBe(2);
    expect(a.stderr).toEqual([`configuration error: REPLAY_FILE="${v2}" is invalid: expected a gzip recording made with RECORD_FILE (its meta line says format version 2: this engine reads version 1)`]);
    expect(b.status).toBe(2);
    expect(b.stderr).toEqual([`configuration error: REPLAY_FILE="${bare}" is invalid: expected a gzip recording made with RECORD_FILE (it holds nothing to play: no frames and no REST answers (0 malformed lines))`]);
  });

  it.skipIf(process.platform !== 'linux')('npm start: a FIFO as RECORD_FILE exits 2 naming RECORD_FILE (reproduced: the start hung on the open)', async () => {
    const fifo = join(dir, 'rec.fifo');
    execFileSync('mkfifo', [fifo]);
    const r = await run(['engine/src/main.ts'], { SOURCE: 'sim', SYMBOLS: 'BTCUSDT', INTERVALS: '1m', RECORD_FILE: fifo });
    expect(r.status).toBe(2);
    expect(r.stderr.filter((l) => !/ WARN /.test(l))).toEqual([`configuration error: RECORD_FILE="${fifo}" is invalid: expected a file that can be written (it is a named pipe (FIFO), not a regular file)`]);
  });

  it.runIf(devFull)('npm run record: a full disk ends the recording run with status 1 and says so (reproduced: it ran on, recording nothing)', async () => {
    const r = await run(['engine/src/record/record-cli.ts', '--out', '/dev/full', '--source', 'sim', '--symbols', 'BTCUSDT', '--intervals', '1m', '--minutes', '10'], {});
    expect(r.status).toBe(1);
    expect(r.stderr.at(-1)).toMatch(/^record: the recording to \/dev\/full stopped: it could not be written \(ENOSPC: no space left on device/);
    expect(r.stderr.join('\n')).not.toMatch(/\n\s+at /);
  });

  it('npm run record: a bad --out exits 2 naming --out and why', async () => {
    const out = join(dir, 'missing', 'rec.jsonl.gz');
    const r = await run(['engine/src/record/record-cli.ts', '--out', out, '--source', 'sim', '--symbols', 'BTCUSDT', '--intervals', '1m'], {});
    expect(r.status).toBe(2);
    expect(r.stderr.filter((l) => !/ WARN /.test(l))[0]).toMatch(new RegExp(`^record: --out "${out}" is invalid: expected a file that can be written \\(cannot open it for writing: ENOENT`));
    expect(r.stderr.join('\n')).not.toMatch(/\n\s+at /);
  });

  it('npm run record: --source replay is refused as such (was: "REPLAY_FILE=undefined is invalid")', async () => {
    const r = await run(['engine/src/record/record-cli.ts', '--out', join(dir, 'r.jsonl.gz'), '--source', 'replay'], {});
    expect(r.status).toBe(2);
    expect(r.stderr[0]).toBe('record: --source replay: recording a replay is not useful');
  });
});
