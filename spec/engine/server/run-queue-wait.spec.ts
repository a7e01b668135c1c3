import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../engine/src/metrics.ts';
import { parseSchedstat, runQueueWaitCounters } from '../../../engine/src/server/run-queue-wait.ts';

const WAIT = 'engine_main_thread_runqueue_wait_seconds_total';
const CPU = 'engine_main_thread_cpu_seconds_total';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('parseSchedstat', () => {
  it('reads on-CPU and waiting time, and refuses anything else', () => {
    expect(parseSchedstat('290874 1500 3\n')).toEqual({ cpuNs: 290874, waitNs: 1500 });
    expect(parseSchedstat('')).toBeUndefined();
    expect(parseSchedstat('1 2')).toBeUndefined();
    expect(parseSchedstat('a b c')).toBeUndefined();
  });
});

describe('runQueueWaitCounters', () => {
  it('is not declared where there is no schedstat', () => {
    const metrics = new Metrics();
    expect(runQueueWaitCounters(metrics, () => { throw new Error('ENOENT'); })).toBe(false);
    expect(metrics.render()).not.toContain(WAIT);
  });

  it('never goes backwards', () => {
    const metrics = new Metrics();
    const readings = ['1000000000 500000000 1', '900000000 400000000 2', '2000000000 700000000 3'];
    runQueueWaitCounters(metrics, () => readings.shift() ?? '2000000000 700000000 3');
    metrics.render();
    expect(metrics.value(WAIT)).toBeCloseTo(0.5);
    metrics.render();
    expect(metrics.value(WAIT)).toBeCloseTo(0.7);
    expect(metrics.value(CPU)).toBeCloseTo(2);
  });

  it.skipIf(process.platform !== 'linux')("counts this thread's CPU time", () => {
    const metrics = new Metrics();
    expect(runQueueWaitCounters(metrics)).toBe(true);
    metrics.render();
    const before = metrics.value(CPU);
    // Busy for 200 ms of the process's CPU, not of the wall: on a loaded host (a CI run beside other
    // work) 200 ms of wall gave this thread 142 ms.
    const cpu0 = process.cpuUsage();
    const giveUp = performance.now() + 10_000;
    const spent = () => {
      const d = process.cpuUsage(cpu0);
      return (d.user + d.system) / 1e6;
    };
    while (spent() < 0.2 && performance.now() < giveUp);
    const processCpu = spent();
    metrics.render();
    const threadCpu = metrics.value(CPU) - before;
    // The process's other threads (GC, libuv) take a little of it.
    expect(threadCpu).toBeGreaterThan(0.6 * processCpu);
    expect(threadCpu).toBeLessThan(processCpu + 0.02);
  });

  // Three busy processes on one CPU: each runs about a third of the time and waits the rest.
  it.skipIf(process.platform !== 'linux')('shows the wait of a thread that shares its CPU with busy ones', async () => {
    const busy = (): ChildProcess => spawn('taskset', ['-c', '0', process.execPath, '-e', 'for(;;);'], { stdio: 'ignore' });
    const kids = [busy(), busy(), busy()];
    try {
      await sleep(300);
      const metrics = new Metrics();
      expect(runQueueWaitCounters(metrics, () => readFileSync(`/proc/${kids[0]!.pid}/schedstat`, 'utf8'))).toBe(true);
      metrics.render();
      const [wait0, cpu0] = [metrics.value(WAIT), metrics.value(CPU)];
      await sleep(1500);
      metrics.render();
      const [wait, cpu] = [metrics.value(WAIT) - wait0, metrics.value(CPU) - cpu0];
      // About 1.0 s waiting and 0.5 s running; loosely, as other load on the machine shifts it.
      expect(wait).toBeGreaterThan(0.6);
      expect(wait).toBeGreaterThan(cpu);
    } finally {
      for (const k of kids) k.kill('SIGKILL');
    }
  });
});
