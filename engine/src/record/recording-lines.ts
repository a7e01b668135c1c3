import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { isRecordLine, type RecordLine } from './recording-format.ts';
import { MAX_LINE_BYTES, splitLines, TOO_LONG } from './split-lines.ts';

/** A line that is not a JSON record, or longer than the bound. */
export const MALFORMED = Symbol('malformed line');

/**
 * The records of a gzip recording read from `file`, one per complete non-empty line, decompressed
 * only as they are asked for: while the consumer holds back, the gunzip stream and the file pause
 * (async iteration's backpressure), so this holds one chunk and one line, never the recording.
 * Errors (a cut gzip, a read error) pass on after every complete line; ending the loop early
 * destroys `file`.
 */
export async function* recordingLines(file: Readable, maxLineBytes = MAX_LINE_BYTES): AsyncGenerator<RecordLine | typeof MALFORMED> {
  // 64 KiB out at a time, not 16: a quarter of the async steps per MB (a replay reads its recording twice).
  const gunzip = createGunzip({ chunkSize: 64 * 1024 });
  // A read error ends the gunzip with it, so the loop sees it (pipe alone drops it).
  file.on('error', (e) => gunzip.destroy(e));
  // Closed before its end (the replay closed mid-read): the loop ends too, rather than wait for more.
  file.on('close', () => {
    if (!file.readableEnded) gunzip.destroy();
  });
  file.pipe(gunzip);
  try {
    for await (const text of splitLines(gunzip, maxLineBytes)) {
      if (text === TOO_LONG) {
        yield MALFORMED;
        continue;
      }
      if (!text) continue;
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        yield MALFORMED;
        continue;
      }
      yield isRecordLine(v) ? v : MALFORMED;
    }
  } finally {
    file.destroy();
    gunzip.destroy();
  }
}
