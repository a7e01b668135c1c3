import type { Readable } from 'node:stream';
import type { RecordLine } from './recording-format.ts';
import { MALFORMED, recordingLines } from './recording-lines.ts';

export type FrameLine = Extract<RecordLine, { k: 'ws' }>;

/**
 * The `ws` frames of a recording, read from `file` as they are asked for (a replay's second pass:
 * the first one counted the lines and kept the REST answers). It stops after `lines` complete lines,
 * the ones the first pass read, so a recording cut short (or one still growing) plays what was
 * counted, and the cut is never read again.
 */
export async function* recordedFrames(file: Readable, lines: number): AsyncGenerator<FrameLine> {
  if (lines <= 0) return void file.destroy();
  let n = 0;
  for await (const line of recordingLines(file)) {
    if (line !== MALFORMED && line.k === 'ws') yield line;
    if (++n >= lines) return;
  }
}
