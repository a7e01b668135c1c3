import { readFileSync } from 'node:fs';

/** Clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS = 100;

export interface ProcSample {
  /** user + system CPU seconds since the process started. */
  cpuS: number;
  /** The system (kernel) part of cpuS: a process's socket writes and reads on loopback are mostly here. */
  sysS: number;
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
    return { cpuS, sysS: Number(rest[12]) / TICKS, rssBytes: rssKb * 1024, at: performance.now() };
  } catch {
    return undefined; // the process has exited
  }
}

/** RSS by mapping kind from /proc/pid/smaps: [heap] (glibc main arena), 16 MiB column slabs, anon 64 MiB-ish (thread arenas), other anon (V8's pages are 256 KiB), files. */
export function rssByMapping(pid: number): string {
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const agg = new Map<string, number>();
  let kind = '';
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      const size = parseInt(m[2]!, 16) - parseInt(m[1]!, 16);
      const name = m[3]!;
      kind = name.startsWith('[heap]') ? 'brk-heap' : name.startsWith('[stack') ? 'stack' : name ? (name.includes('.node') ? 'native-addon' : name.includes('node') ? 'node-binary' : 'file') : size >= 16 * 2 ** 20 && size <= 16 * 2 ** 20 + 65536 ? 'anon-16M (column slabs)' : size >= 60 * 2 ** 20 && size <= 64 * 2 ** 20 ? 'anon-64M' : size === 128 * 2 ** 20 ? 'anon-128M' : size >= 2 ** 20 ? 'anon>=1M' : 'anon<1M';
      continue;
    }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (r) agg.set(kind, (agg.get(kind) ?? 0) + Number(r[1]) * 1024);
  }
  return [...agg.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${(v / 2 ** 20).toFixed(1)}`).join(', ');
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
