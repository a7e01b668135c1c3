import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import type { RecordLine } from './recording-format.ts';

/** Appends what the engine receives to a gzip JSON-lines file; `close` flushes it. */
export class Recorder {
  private readonly gzip = createGzip({ level: 6 });
  private readonly file;
  lines = 0;

  constructor(path: string) {
    this.file = createWriteStream(path);
    this.gzip.pipe(this.file);
  }

  write(line: RecordLine): void {
    this.gzip.write(JSON.stringify(line) + '\n');
    this.lines++;
  }

  async close(): Promise<void> {
    this.gzip.end();
    await once(this.file, 'close');
  }
}
