import type { Readable } from 'node:stream';
import { MALFORMED, recordingLines } from './recording-lines.ts';
import { fsReason, RecordingFileError } from './recording-file-error.ts';
import type { RecordLine } from './recording-format.ts';
import { MAX_LINE_BYTES } from './split-lines.ts';

export interface RecordingScan {
  /** Complete non-empty lines read: records and malformed ones. */
  lines: number;
  /** Lines that were not JSON records, or longer than the bound: counted and skipped. */
  malformed: number;
  /** Set when the gzip stream stops early (a recorder killed mid-write): why. The complete lines before it were read. */
  endedEarly?: string;
}

/**
 * Reads the recording `file` (the stream of the file at `path`) through once, handing each record
 * to `onLine` as it is read: the caller decides what to keep. A recording cut short is read up to
 * its cut. Throws RecordingFileError, naming `path`, when it cannot be read or is not gzip.
 */
export async function scanRecording(path: string, file: Readable, onLine: (line: RecordLine) => void, maxLineBytes = MAX_LINE_BYTES): Promise<RecordingScan> {
  let lines = 0;
  let malformed = 0;
  try {
    for await (const line of recordingLines(file, maxLineBytes)) {
      lines++;
      if (line === MALFORMED) malformed++;
      else onLine(line);
    }
  } catch (e) {
    const zlib = typeof (e as NodeJS.ErrnoException).code === 'string' && (e as NodeJS.ErrnoException).code!.startsWith('Z_');
    if (!zlib) throw new RecordingFileError(path, `cannot read it: ${fsReason(e)}`, { cause: e });
    // Nothing decompressed into a line: not a recording at all (not gzip, or cut before its first line).
    if (lines === 0) throw new RecordingFileError(path, `not gzip data: ${(e as Error).message}`, { cause: e });
    return { lines, malformed, endedEarly: (e as Error).message };
  }
  return { lines, malformed };
}
