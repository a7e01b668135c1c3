import { createReadStream } from 'node:fs';
import { checkRecordingFile } from './check-recording-file.ts';
import type { RecordLine } from './recording-format.ts';
import { scanRecording } from './scan-recording.ts';
import { MAX_LINE_BYTES } from './split-lines.ts';

export interface Recording {
  lines: RecordLine[];
  /** Lines that were not JSON records, or longer than the bound: counted and skipped. */
  malformed: number;
  /** Set when the gzip stream stops early (a recorder killed mid-write): why. The complete lines before it are kept. */
  endedEarly?: string;
}

/**
 * Reads a whole recording into memory (for a small one: the series batch and a replay stream theirs); malformed lines
 * are counted and skipped, and no line longer than `maxLineBytes` is ever held. A recording cut short
 * keeps every complete line before the cut.
 * Throws RecordingFileError when the file is missing, a directory, empty, or not gzip.
 */
export async function readRecording(path: string, maxLineBytes = MAX_LINE_BYTES): Promise<Recording> {
  await checkRecordingFile(path);
  const lines: RecordLine[] = [];
  const { malformed, endedEarly } = await scanRecording(path, createReadStream(path), (l) => lines.push(l), maxLineBytes);
  return endedEarly === undefined ? { lines, malformed } : { lines, malformed, endedEarly };
}
