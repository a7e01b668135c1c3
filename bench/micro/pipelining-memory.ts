/**
 * What one client address pipelining HTTP requests it never reads costs an engine: `npm start`'s
 * engine (ROLE=all on the simulator) of a checkout (this one by default, or an older one to compare)
 * in a child process; `conns` connections each write `requests` pipelined `GET /metrics` at once,
 * read nothing for 10 s, then read what comes. Prints the answers received and the engine's RSS
 * before and at its peak (from /proc, every 100 ms).
 *
 *   npx tsx bench/micro/pipelining-memory.ts [repo root=.] [conns=8] [requests=40000]
 */
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { resolve } from 'node:path';
import { request } from 'undici';
import { procSample } from '../lib/proc-stats.ts';
import { freePort } from '../../spec/helpers/redis-process.ts';

const root = resolve(process.argv[2] ?? '.');
const conns = Number(process.argv[3] ?? 8);
const requests = Number(process.argv[4] ?? 40_000);
const PAUSE_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const port = await freePort();
const engine = spawn(process.execPath, ['--import', 'tsx', 'engine/src/main.ts'], {
  cwd: root,
  env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', SOURCE: 'sim', SYMBOLS: 'BTCUSDT,ETHUSDT', INTERVALS: '1m', SERIES_DIR: '', CLIENT_DIR: '', LOG_LEVEL: 'warn' },
  stdio: 'ignore',
});
try {
  for (let i = 0; ; i++) {
    const ok = await request(`http://127.0.0.1:${port}/readyz`).then(
      async (r) => (await r.body.text(), r.statusCode === 200),
      () => false,
    );
    if (ok) break;
    if (i > 120) throw new Error('the engine did not get ready in 60 s');
    await sleep(500);
  }
  await sleep(1000);
  const rss = () => (procSample(engine.pid!)?.rssBytes ?? NaN) / 2 ** 20;
  const before = rss();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rss())), 100);
  const results = await Promise.all(
    Array.from(
      { length: conns },
      () =>
        new Promise<{ answers: number; bytes: number }>((done) => {
          const s = createConnection({ host: '127.0.0.1', port });
          let answers = 0;
          let bytes = 0;
          let tail = '';
          const end = () => done({ answers, bytes });
          s.on('error', end);
          s.on('close', end);
          s.on('connect', () => {
            s.pause();
            s.write('GET /metrics HTTP/1.1\r\nHost: engine\r\n\r\n'.repeat(requests));
            setTimeout(() => {
              s.on('data', (d: Buffer) => {
                bytes += d.length;
                const text = tail + d.toString('latin1');
                answers += text.split('HTTP/1.1 ').length - 1 - (tail.includes('HTTP/1.1 ') ? 1 : 0);
                tail = text.slice(-16);
              });
              s.resume();
              // Whatever is still coming after this long is not counted.
              setTimeout(() => s.destroy(), 20_000);
            }, PAUSE_MS);
          });
        }),
    ),
  );
  clearInterval(sampler);
  const mb = (x: number) => `${x.toFixed(0)} MB`;
  console.log(JSON.stringify({ tree: root, conns, requests, answers: results.reduce((s, r) => s + r.answers, 0), answerBytes: mb(results.reduce((s, r) => s + r.bytes, 0) / 2 ** 20), rssBefore: mb(before), rssPeak: mb(peak) }));
} finally {
  engine.kill('SIGKILL');
}
process.exit(0);
