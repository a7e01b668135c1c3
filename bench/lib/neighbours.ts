import { readFileSync, readdirSync } from 'node:fs';
import { procSample } from './proc-stats.ts';

/** A process outside the bench using CPU while it measures. */
export interface Neighbour {
  pid: number;
  command: string;
  /** Share of one core over the sample. */
  cpu: number;
}

/** Less than this share of a core is a quiet machine's background (kernel threads, the VM's agent). */
const NOISY_SHARE = 0.02;

const pids = (): number[] => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);

const commandOf = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
};

/**
 * Processes other than this one using more than NOISY_SHARE of a core over `ms`. Taken before the
 * scenarios start (the bench's own children do not exist yet) and after they end: on a 2-core machine
 * the load generator, the nodes and Redis share the cores, so the result file says whether anything
 * else was running.
 */
export async function busyNeighbours(ms = 1000): Promise<Neighbour[]> {
  const before = new Map(pids().map((p) => [p, procSample(p)]));
  await new Promise((r) => setTimeout(r, ms));
  const out: Neighbour[] = [];
  for (const [pid, a] of before) {
    if (pid === process.pid || !a) continue;
    const b = procSample(pid);
    if (!b) continue;
    const cpu = (b.cpuS - a.cpuS) / ((b.at - a.at) / 1000);
    if (cpu > NOISY_SHARE) out.push({ pid, command: commandOf(pid), cpu: Math.round(cpu * 1000) / 1000 });
  }
  return out.sort((x, y) => y.cpu - x.cpu);
}

/** A log line for them, or undefined on a quiet machine. */
export function neighboursText(ns: readonly Neighbour[]): string | undefined {
  if (!ns.length) return undefined;
  return `other processes busy on the machine (figures are not comparable with a quiet run): ${ns.map((n) => `${n.command} (pid ${n.pid}) ${(n.cpu * 100).toFixed(0)}%`).join(', ')}`;
}
