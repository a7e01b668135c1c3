import { createWriteStream, openSync, type WriteStream } from 'node:fs';
import { createGzip } from 'node:zlib';
import { fsReason, RecordingFileError } from './recording-file-error.ts';
import type { RecordLine } from './recording-format.ts';
import { unwritableKind } from './unwritable-kind.ts';

export interface RecorderConfig {
  /**
   * Called once when writing fails (a full disk): recording stops there and the engine goes on, since
   * a recording is a by-product and must never take the live engine down.
   */
  onError: (err: Error) => void;
  /**
   * Bytes waiting for the compressor or the disk past which recording stops (default 256 MiB, over the
   * largest REST answer taken, 64 MiB): a disk that stalls without an error, or frames coming faster
   * than gzip takes them, grew it without a bound (a review).
   */
  maxBufferedBytes?: number;
}

const MAX_BUFFERED_BYTES = 256 * 2 ** 20;

/**
 * Appends what the engine receives to a gzip JSON-lines file; `close` flushes it. The file is opened
 * in the constructor, so a path that cannot be written, or that is no regular file (a FIFO would
 * block the open), fails the start with RecordingFileError.
 */
export class Recorder {
  private readonly gzip = createGzip({ level: 6 });
  private readonly file: WriteStream;
  private readonly closed: Promise<void>;
  private failed = false;
  private ending = false;
  private failWith!: (e: Error) => void;
  private readonly fail: (e: Error) => void;
  private readonly maxBuffered: number;
  /**
   * Resolves with the write error that stopped the recording (never, if none did). The engine goes
   * on serving; the record CLI, whose only job is the recording, exits on it.
   */
  readonly failure = new Promise<Error>((resolve) => (this.failWith = resolve));
  lines = 0;

  constructor(
    readonly path: string,
    { onError, maxBufferedBytes = MAX_BUFFERED_BYTES }: RecorderConfig,
  ) {
    this.maxBuffered = maxBufferedBytes;
    const refused = unwritableKind(path);
    if (refused) throw new RecordingFileError(path, refused);
    let fd: number;
    try {
      fd = openSync(path, 'w');
    } catch (e) {
      throw new RecordingFileError(path, `cannot open it for writing: ${fsReason(e)}`, { cause: e });
    }
    this.file = createWriteStream(path, { fd });
    // Registered now: an error before `close` must not leave `close` waiting for an event already gone.
    this.closed = new Promise((resolve) => this.file.once('close', () => resolve()));
    const fail = (this.fail = (e: Error) => {
      if (this.failed) return;
      this.failed = true;
      // Drop what is buffered: nothing more can reach the file. The file stream closes its fd itself.
      this.gzip.unpipe(this.file);
      this.gzip.destroy();
      this.file.destroy();
      onError(e);
      this.failWith(e);
    });
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
    const buffered = this.gzip.writableLength + this.file.writableLength;
    if (buffered > this.maxBuffered) {
      return this.fail(new Error(`${buffered} bytes wait for the compressor or the disk (over ${this.maxBuffered}): they cannot keep up with the exchange`));
    }
    this.gzip.write(JSON.stringify(line) + '\n');
    this.lines++;
  }

  async close(): Promise<void> {
    if (!this.ending && !this.failed) this.gzip.end();
    this.ending = true;
    await this.closed;
  }
}
