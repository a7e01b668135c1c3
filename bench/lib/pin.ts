import { execFileSync } from 'node:child_process';
import os from 'node:os';

/**
 * CPU affinity for `--pin`: the systems under test on one set of cores, the load generator (its
 * workers, the pacing relay, the bench itself) on the rest. Unpinned, both share every core, and on a
 * small machine the ramp ends where the load generator runs out of CPU, a point that moves with
 * whatever else the same cores ran in that step (a system of more processes takes more of the
 * generator's share). Pinned, each side's saturation is its own. Every thread of the process (`-a`).
 */
export interface CpuSplit {
  servers: string;
  load: string;
}

/** Half the cores (at least one) for the systems under test, the rest for the load generator. */
export function cpuSplit(cores = os.availableParallelism()): CpuSplit | undefined {
  if (cores < 2) return undefined;
  const half = Math.floor(cores / 2);
  const list = (from: number, to: number) => (to - from === 1 ? String(from) : `${from}-${to - 1}`);
  return { servers: list(0, half), load: list(half, cores) };
}

export function pin(pids: ReadonlyArray<number | undefined>, cpus: string): void {
  for (const pid of pids) if (pid !== undefined) execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}
