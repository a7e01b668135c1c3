/**
 * What waking a process after a pause costs on this machine, and what would lower it: the floor under
 * the cluster's added latency at an exchange's pace (every hop of the path starts from a sleeping
 * process; bench/lib/wake-rtt.ts measures the plain case in every cluster-pace run). Round trips over
 * loopback TCP after `gap` ms idle:
 * - two Node processes (a ping and an echo), plain; with a 1 ms and a 5 ms timer in each (a "keep
 *   warm" tick); with one or two other processes spinning (the vCPUs never idle);
 * - two Python processes (a blocking recv: no event loop), when python3 is here;
 * - a Redis PUBLISH to a subscriber process that answers over TCP, the subscriber on ioredis or on a
 *   bare socket (the edge's hop from Redis).
 *
 *   npx tsx bench/micro/wake-floor.ts [gap ms, default 1000] [pings, default 15]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { Redis } from 'ioredis';

const gap = Number(process.argv[2] ?? 1000);
const pings = Number(process.argv[3] ?? 15);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!.toFixed(3);
const say = (label: string, xs: number[]) => console.log(`${label.padEnd(44)} after ${gap} ms idle: p50 ${q(xs, 0.5)} p90 ${q(xs, 0.9)} max ${q(xs, 1)} ms (${xs.length})`);

/** `pings` round trips, each after `gap` ms idle: `send`, then the time until `answer` has data. */
async function idlePings(answer: net.Socket, send: () => void): Promise<number[]> {
  const xs: number[] = [];
  for (let i = 0; i < pings; i++) {
    await sleep(gap);
    const t0 = performance.now();
    await new Promise<void>((r) => {
      answer.once('data', () => r());
      send();
    });
    xs.push(performance.now() - t0);
  }
  return xs;
}

const ECHO = (warm: number) => `${warm ? `setInterval(() => {}, ${warm});` : ''}
const s = require('node:net').createServer((c) => { c.setNoDelay(true); c.on('data', (d) => c.write(d)); });
s.listen(0, '127.0.0.1', () => console.log(s.address().port));`;

async function nodePair(label: string, warm: number, others: string[]): Promise<void> {
  const extra: ChildProcess[] = others.map((code) => spawn(process.execPath, ['-e', code], { stdio: 'ignore' }));
  const echo = spawn(process.execPath, ['-e', ECHO(warm)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const timer = warm ? setInterval(() => {}, warm) : undefined;
  try {
    const port = await new Promise<number>((r) => echo.stdout!.once('data', (d: Buffer) => r(Number(d.toString().trim()))));
    const s = net.connect(port, '127.0.0.1');
    s.setNoDelay(true);
    await new Promise((r) => s.once('connect', r));
    const xs = await idlePings(s, () => s.write('x'));
    s.destroy();
    say(label, xs);
  } finally {
    clearInterval(timer);
    echo.kill();
    extra.forEach((e) => e.kill());
  }
}

function pythonPair(): void {
  const code = `
import socket, subprocess, sys, time
gap, n = ${gap} / 1000, ${pings}
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)
echo = subprocess.Popen([sys.executable, '-c', "import socket,sys\\nc=socket.create_connection(('127.0.0.1',int(sys.argv[1])));c.setsockopt(socket.IPPROTO_TCP,socket.TCP_NODELAY,1)\\nwhile True:\\n d=c.recv(100)\\n if not d: break\\n c.sendall(d)", str(srv.getsockname()[1])])
s, _ = srv.accept(); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
xs = []
for i in range(n):
  time.sleep(gap); t = time.perf_counter(); s.sendall(b'x'); s.recv(1); xs.append((time.perf_counter() - t) * 1000)
s.close(); echo.wait()
print(' '.join(str(x) for x in xs))`;
  const r = spawnSync('python3', ['-c', code], { encoding: 'utf8' });
  if (r.status !== 0) return void console.log(`two Python processes: not run (${r.error?.message ?? r.stderr.trim().split('\n').at(-1)})`);
  say('two Python processes (blocking recv)', r.stdout.trim().split(' ').map(Number));
}

const SUB = {
  ioredis: `const { Redis } = require('ioredis');
const back = require('node:net').connect(Number(process.argv[1]), '127.0.0.1', () => { back.setNoDelay(true);
  const r = new Redis({ db: 15 }); r.subscribe('bench-wake-floor').then(() => back.write('r'));
  r.on('messageBuffer', () => back.write('x')); });`,
  'bare socket': `const back = require('node:net').connect(Number(process.argv[1]), '127.0.0.1', () => { back.setNoDelay(true);
  const r = require('node:net').connect(6379, '127.0.0.1', () => { r.setNoDelay(true); r.write('SUBSCRIBE bench-wake-floor\\r\\n'); });
  let first = true; r.on('data', () => { if (first) { first = false; back.write('r'); } else back.write('x'); }); });`,
};

async function subscriber(kind: keyof typeof SUB): Promise<void> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const conn = new Promise<net.Socket>((r) => srv.once('connection', r));
  const child = spawn(process.execPath, ['-e', SUB[kind], String((srv.address() as net.AddressInfo).port)], { stdio: 'inherit' });
  const pub = new Redis({ db: 15, lazyConnect: true });
  try {
    const c = await conn;
    await new Promise((r) => c.once('data', r));
    await pub.connect();
    const xs = await idlePings(c, () => void pub.publish('bench-wake-floor', '["1700000000000","1","2","0.5","1.5","10",1700000059999,"15",3,"5","7.5",0]'));
    c.destroy();
    say(`Redis PUBLISH → subscriber on ${kind} → back`, xs);
  } finally {
    pub.disconnect();
    child.kill();
    srv.close();
  }
}

const SPIN = 'for (;;) {}';
for (let round = 1; round <= 2; round++) {
  console.log(`round ${round}`);
  await nodePair('two Node processes', 0, []);
  await nodePair('two Node processes, a 1 ms timer in each', 1, []);
  await nodePair('two Node processes, a 5 ms timer in each', 5, []);
  await nodePair('two Node processes, one other spinning', 0, [SPIN]);
  await nodePair('two Node processes, two others spinning', 0, [SPIN, SPIN]);
  pythonPair();
  await subscriber('ioredis');
  await subscriber('bare socket');
}
