import { execSync } from 'node:child_process';
import os from 'node:os';
import { uwsBuild } from '../../engine/src/broadcast/uws-build.ts';

/** What the figures were measured on. */
export function machineInfo() {
  const git = (cmd: string) => {
    try {
      return execSync(cmd, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    } catch {
      return undefined;
    }
  };
  return {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    uws: uwsBuild(),
    commit: git('git rev-parse --short HEAD'),
  };
}
