import { type Stats, statSync } from 'node:fs';

/**
 * Devices a recording may go to though they are not files: /dev/null (record nothing) and /dev/full
 * (every write fails with ENOSPC, how a full disk is tried). Known by device number, whatever the name.
 */
const HARMLESS_DEVICES = ['/dev/null', '/dev/full'];

/**
 * Why the existing `path` cannot take a recording, or undefined when it can (a regular file, or a
 * path that does not exist yet: it is created). Asked before opening: opening a FIFO for writing
 * waits for a reader, and the start hung there; a terminal, a disk or a socket is no place for gzip.
 * Errors other than a missing path are left to the open, which reports them.
 */
export function unwritableKind(path: string): string | undefined {
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    return undefined;
  }
  if (st.isFile() || st.isDirectory()) return undefined; // a directory: the open says EISDIR
  if (st.isCharacterDevice() && HARMLESS_DEVICES.some((d) => sameDevice(d, st))) return undefined;
  const kind = st.isFIFO() ? 'a named pipe (FIFO)' : st.isSocket() ? 'a socket' : st.isBlockDevice() ? 'a block device' : st.isCharacterDevice() ? 'a character device' : 'not a regular file';
  return `it is ${kind}, not a regular file`;
}

function sameDevice(path: string, st: Stats): boolean {
  try {
    return statSync(path).rdev === st.rdev;
  } catch {
    return false;
  }
}
