import { spawn } from 'node:child_process';
import net from 'node:net';

/** A loopback echo server in a process of its own: prints its port, echoes every byte. */
const ECHO = `
const s = require('node:net').createServer((c) => { c.setNoDelay(true); c.on('data', (d) => c.write(d)); });
s.listen(0, '127.0.0.1', () => console.log(s.address().port));
`;

export interface WakeRtt {
  /** Round trips (ms) after `idleGapMs` with nothing to do: both processes asleep when it starts. */
  idle: number[];
  /** Round trips (ms) 1 ms apart: both processes warm. */
  busy: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * What waking a process costs on this machine: a byte to another process over loopback TCP and back
 * (two hops), sent after a pause and back to back. At an exchange's pace (a tick every 2 s) every hop
 * of a path starts from a sleeping process; the cluster's path has two hops more than ROLE=all's
 * (leader → Redis → edge), so the idle round trip is the least it can add here before any work.
 */
export async function wakeRtt(o: { idleGapMs: number; idlePings: number; busyPings: number }): Promise<WakeRtt> {
  const child = spawn(process.execPath, ['-e', ECHO], { stdio: ['ignore', 'pipe', 'inherit'] });
  let socket: net.Socket | undefined;
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`echo process exited (${code})`)));
      child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    });
    const s = (socket = net.connect(port, '127.0.0.1'));
    s.setNoDelay(true);
    await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
    const ping = () =>
      new Promise<number>((resolve) => {
        const t0 = performance.now();
        s.once('data', () => resolve(performance.now() - t0));
        s.write('x');
      });
    const busy: number[] = [];
    for (let i = 0; i < o.busyPings; i++) {
      busy.push(await ping());
      await sleep(1);
    }
    const idle: number[] = [];
    for (let i = 0; i < o.idlePings; i++) {
      await sleep(o.idleGapMs);
      idle.push(await ping());
    }
    return { idle, busy };
  } finally {
    socket?.destroy();
    child.kill();
  }
}
