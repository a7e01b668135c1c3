/**
 * The simulator's own CPU at exchange scale: `npm run sim` in a child process with its default
 * universe (1,500 TRADING symbols), every symbol × 1m,5m,15m,1h,4h,1d subscribed (9,000 streams over
 * 9 connections, by SUBSCRIBE), pushed at Binance's pace (every 2 s, so 4,500 frames/s). Prints the
 * child's CPU (user + system, from /proc) over the measured window and the frames received.
 *
 *   npx tsx bench/sim-cpu.ts [warmupSec=15] [measureSec=30]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const warmupSec = Number(process.argv[2] ?? 15);
const measureSec = Number(process.argv[3] ?? 30);
const INTERVALS = ['1m', '5m', '15m', '1h', '4h', '1d'];
const PER_CONNECTION = 1000;
const TICKS_PER_SEC = 100; // USER_HZ on Linux

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC; // utime, stime
}

const child = spawn(process.execPath, ['--import', 'tsx', 'engine/sim/main.ts'], { cwd: ROOT, env: { ...process.env, SIM_PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
const urls = await new Promise<{ rest: string; ws: string }>((resolve, reject) => {
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /REST (\S+)\s+WS (\S+)/.exec(out);
    if (m) resolve({ rest: m[1]!, ws: m[2]! });
  });
  child.on('exit', (code) => reject(new Error(`sim exited ${code}`)));
});

try {
  const info = (await (await fetch(`${urls.rest}/api/v3/exchangeInfo?symbolStatus=TRADING`)).json()) as { symbols: Array<{ symbol: string }> };
  const streams = info.symbols.flatMap((s) => INTERVALS.map((i) => `${s.symbol.toLowerCase()}@kline_${i}`));
  let frames = 0;
  const sockets: WebSocket[] = [];
  for (let i = 0; i < streams.length; i += PER_CONNECTION) {
    const ws = new WebSocket(`${urls.ws}/ws`);
    sockets.push(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.on('message', () => frames++);
    ws.on('close', (code) => console.error(`connection closed ${code}`));
    ws.send(JSON.stringify({ method: 'SUBSCRIBE', params: streams.slice(i, i + PER_CONNECTION), id: i }));
  }
  console.log(`${info.symbols.length} symbols, ${streams.length} streams on ${sockets.length} connections; warming up ${warmupSec} s`);
  await new Promise((r) => setTimeout(r, warmupSec * 1000));
  const cpu0 = cpuSeconds(child.pid!);
  const t0 = performance.now();
  const f0 = frames;
  await new Promise((r) => setTimeout(r, measureSec * 1000));
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(child.pid!) - cpu0;
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
  console.log(
    JSON.stringify({ symbols: info.symbols.length, streams: streams.length, seconds: Number(wall.toFixed(1)), framesPerSec: Math.round((frames - f0) / wall), simCpuPercentOfOneCore: Number(((100 * cpu) / wall).toFixed(1)), simRssMiB: Math.round(rss) }),
  );
  for (const ws of sockets) {
    ws.removeAllListeners('close');
    ws.terminate();
  }
} finally {
  child.kill('SIGTERM');
}
