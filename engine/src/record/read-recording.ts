import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { isRecordLine, type RecordLine } from './recording-format.ts';

/** Reads a whole recording; malformed lines are counted and skipped. */
export async function readRecording(path: string): Promise<{ lines: RecordLine[]; malformed: number }> {
  const lines: RecordLine[] = [];
  let malformed = 0;
  const rl = createInterface({ input: createReadStream(path).pipe(createGunzip()), crlfDelay: Infinity });
  for await (const text of rl) {
    if (!text) continue;
    try {
      const v: unknown = JSON.parse(text);
      if (isRecordLine(v)) lines.push(v);
      else malformed++;
    } catch {
      malformed++;
    }
  }
  return { lines, malformed };
}
