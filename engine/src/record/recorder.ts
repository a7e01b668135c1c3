import { createWriteStream, openSync, type WriteStream } from 'node:fs';
import { createGzip } from 'node:zlib';
import { fsReason, RecordingFileError } from './recording-file-error.ts';
import type { RecordLine } from './recording-format.ts';

export interface RecorderConfig {
  /**
   * Called once when writing fails (a full disk): recording stops there and the engine goes on, since
   * a recording is a by-product and must never take the live engine down.
   */
  onError: (err: Error) => void;
}

/**
 * Appends what the engine receives to a gzip JSON-lines file; `close` flushes it. The file is opened
 * in the constructor, so a path that cannot be written fails the start with RecordingFileError.
 */
export class Recorder {
  private readonly gzip = createGzip({ level: 6 });
  private readonly file: WriteStream;
  private readonly closed: Promise<void>;
  private failed = false;
  private ending = false;
  lines = 0;

  constructor(
    readonly path: string,
    { onError }: RecorderConfig,
  ) {
    let fd: number;
    try {
      fd = openSync(path, 'w');
    } catch (e) {
      throw new RecordingFileError(path, `cannot open it for writing: ${fsReason(e)}`, { cause: e });
    }
    this.file = createWriteStream(path, { fd });
    // Registered now: an error before `close` must not leave `close` waiting for an event already gone.
    this.closed = new Promise((resolve) => this.file.once('close', () => resolve()));
    const fail = (e: Error) => {
      if (this.failed) return;
      this.failed = true;
      // Drop what is buffered: nothing more can reach the file. The file stream closes its fd itself.
      this.gzip.unpipe(this.file);
      this.gzip.destroy();
      this.file.destroy();
      onError(e);
    };
    this.file.on('error', fail);
    this.gzip.on('error', fail);
    this.gzip.pipe(this.file);
  }

  /** Whether writing has stopped on an error. */
  get stopped(): boolean {
    return this.failed;
  }

  write(line: RecordLine): void {
    // After close a late frame is dropped, not written after the end (which would be an error).
    if (this.failed || this.ending) return;
    this.gzip.write(JSON.stringify(line) + '\n');
    this.lines++;
  }

  async close(): Promise<void> {
    if (!this.ending && !this.failed) this.gzip.end();
    this.ending = true;
    await this.closed;
  }
}
