import { readFileSync } from 'node:fs';

/** Clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS = 100;

export interface ProcSample {
  /** user + system CPU seconds since the process started. */
  cpuS: number;
  rssBytes: number;
  at: number;
}

/**
 * Reads CPU time and resident memory of a process from /proc, from outside it: a server whose event
 * loop is saturated can still be measured (an IPC request would wait behind its backlog).
 */
export function procSample(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuS = (Number(rest[11]) + Number(rest[12])) / TICKS;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    return { cpuS, rssBytes: rssKb * 1024, at: performance.now() };
  } catch {
    return undefined; // the process has exited
  }
}

/** CPU use between two samples as a fraction of one core. */
export function cpuShare(a: ProcSample | undefined, b: ProcSample | undefined): number {
  if (!a || !b || b.at <= a.at) return NaN;
  return (b.cpuS - a.cpuS) / ((b.at - a.at) / 1000);
}

export interface MachineSample {
  busy: number;
  /** Interrupt and softirq time: mostly loopback TCP work, charged to no process. */
  irq: number;
  total: number;
}

/** Busy, interrupt and total jiffies of the whole machine (all cores), from /proc/stat. */
export function machineSample(): MachineSample {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
  const total = f.slice(0, 8).reduce((s, x) => s + x, 0); // user..steal (guest is inside user)
  return { busy: total - idle, irq: (f[5] ?? 0) + (f[6] ?? 0), total };
}

/** Cores busy, and cores spent in interrupts, between two machine samples (0 .. number of cores). */
export function machineBusyCores(a: MachineSample, b: MachineSample, cores: number): { busy: number; irq: number } {
  const dt = b.total - a.total;
  if (dt <= 0) return { busy: NaN, irq: NaN };
  return { busy: ((b.busy - a.busy) / dt) * cores, irq: ((b.irq - a.irq) / dt) * cores };
}
