import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { fsReason, RecordingFileError } from './recording-file-error.ts';
import { isRecordLine, type RecordLine } from './recording-format.ts';
import { MAX_LINE_BYTES, splitLines, TOO_LONG } from './split-lines.ts';

export interface Recording {
  lines: RecordLine[];
  /** Lines that were not JSON records, or longer than the bound: counted and skipped. */
  malformed: number;
  /** Set when the gzip stream stops early (a recorder killed mid-write): why. The complete lines before it are kept. */
  endedEarly?: string;
}

/**
 * Reads a whole recording; malformed lines are counted and skipped, and no line longer than
 * `maxLineBytes` is ever held. A recording cut short keeps every complete line before the cut.
 * Throws RecordingFileError when the file is missing, a directory, empty, or not gzip.
 */
export async function readRecording(path: string, maxLineBytes = MAX_LINE_BYTES): Promise<Recording> {
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw new RecordingFileError(path, 'it is a directory');
    if (st.isFile() && st.size === 0) throw new RecordingFileError(path, 'the file is empty');
  } catch (e) {
    if (e instanceof RecordingFileError) throw e;
    throw new RecordingFileError(path, `cannot read it: ${fsReason(e)}`, { cause: e });
  }
  const input = createReadStream(path);
  const gunzip = createGunzip();
  // A read error ends the gunzip with it, so the loop below sees it (pipe alone drops it).
  input.on('error', (e) => gunzip.destroy(e));
  input.pipe(gunzip);

  const lines: RecordLine[] = [];
  let malformed = 0;
  let complete = 0;
  try {
    for await (const text of splitLines(gunzip, maxLineBytes)) {
      complete++;
      if (text === TOO_LONG) {
        malformed++;
        continue;
      }
      if (!text) continue;
      try {
        const v: unknown = JSON.parse(text);
        if (isRecordLine(v)) lines.push(v);
        else malformed++;
      } catch {
        malformed++;
      }
    }
  } catch (e) {
    input.destroy();
    const zlib = typeof (e as NodeJS.ErrnoException).code === 'string' && (e as NodeJS.ErrnoException).code!.startsWith('Z_');
    if (!zlib) throw new RecordingFileError(path, `cannot read it: ${fsReason(e)}`, { cause: e });
    // Nothing decompressed into a line: not a recording at all (not gzip, or cut before its first line).
    if (complete === 0) throw new RecordingFileError(path, `not gzip data: ${(e as Error).message}`, { cause: e });
    return { lines, malformed, endedEarly: (e as Error).message };
  }
  return { lines, malformed };
}
