import { stat } from 'node:fs/promises';
import { fsReason, RecordingFileError } from './recording-file-error.ts';

/**
 * Refuses, before it is opened, a path that cannot hold a recording: missing, unreadable, a
 * directory, an empty file. With `rereadable` (a replay reads the file twice: its REST answers
 * first, then its frames as they play) anything but a regular file too, since a pipe or a device
 * cannot be read again (and opening a FIFO would wait for a writer).
 */
export async function checkRecordingFile(path: string, { rereadable = false } = {}): Promise<void> {
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw new RecordingFileError(path, 'it is a directory');
    if (st.isFile() && st.size === 0) throw new RecordingFileError(path, 'the file is empty');
    if (rereadable && !st.isFile()) throw new RecordingFileError(path, 'it is not a regular file (a replay reads it twice)');
  } catch (e) {
    if (e instanceof RecordingFileError) throw e;
    throw new RecordingFileError(path, `cannot read it: ${fsReason(e)}`, { cause: e });
  }
}
