import { createWriteStream, existsSync, openSync, renameSync, type Stats, statSync, type WriteStream } from 'node:fs';
import { constants as zlibConstants, createGzip } from 'node:zlib';
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
  /**
   * Longest a written line waits in the compressor before it is flushed to the file (default 1 s):
   * a recorder killed (kill -9, a crash) loses at most this much. gzip otherwise held the last
   * minutes in its window, and a crashed engine's recording lost them (a review).
   */
  flushEveryMs?: number;
}

const MAX_BUFFERED_BYTES = 256 * 2 ** 20;
const FLUSH_EVERY_MS = 1000;

/**
 * Appends what the engine receives to a gzip JSON-lines file; `close` flushes it, and while it
 * records, what was written is flushed (Z_SYNC_FLUSH) at most `flushEveryMs` later, so a killed
 * engine's recording is readable up to its last second. The file is opened in the constructor, so a
 * path that cannot be written, or that is no regular file (a FIFO would block the open), fails the
 * start with RecordingFileError. A non-empty file already at the path is never overwritten: it is
 * moved aside first (`movedAside` names where), so a crash-looping engine keeps each run's recording.
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
  /** Where a non-empty file found at `path` was moved before this recording took its place. */
  readonly movedAside?: string;
  lines = 0;
  private readonly flushEveryMs: number;
  /** Set while written lines wait for their flush. */
  private flushTimer?: NodeJS.Timeout;

  constructor(
    readonly path: string,
    { onError, maxBufferedBytes = MAX_BUFFERED_BYTES, flushEveryMs = FLUSH_EVERY_MS }: RecorderConfig,
  ) {
    if (!(flushEveryMs > 0)) throw new TypeError(`flushEveryMs: expected a positive number, got ${flushEveryMs}`);
    this.maxBuffered = maxBufferedBytes;
    this.flushEveryMs = flushEveryMs;
    const refused = unwritableKind(path);
    if (refused) throw new RecordingFileError(path, refused);
    this.movedAside = moveAside(path);
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
      clearTimeout(this.flushTimer);
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
    // One flush per period at most, however many lines (a sync flush costs a few bytes and ends a
    // deflate block); none while nothing is written.
    this.flushTimer ??= setTimeout(() => this.flush(), this.flushEveryMs).unref();
  }

  private flush(): void {
    this.flushTimer = undefined;
    if (this.failed || this.ending) return;
    this.gzip.flush(zlibConstants.Z_SYNC_FLUSH);
  }

  async close(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (!this.ending && !this.failed) this.gzip.end();
    this.ending = true;
    await this.closed;
  }
}

/**
 * Moves a non-empty regular file at `path` to a sibling named after its modification time
 * (`run.jsonl.gz` → `run.2024-05-01T12-00-00.000Z.jsonl.gz`, a counter added if that is taken) and
 * returns the new path; undefined when there is nothing to keep (no file, an empty one, a device).
 */
function moveAside(path: string): string | undefined {
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    return undefined;
  }
  if (!st.isFile() || st.size === 0) return undefined;
  const suffix = path.endsWith('.jsonl.gz') ? '.jsonl.gz' : '';
  const base = `${path.slice(0, path.length - suffix.length)}.${st.mtime.toISOString().replace(/:/g, '-')}`;
  let aside = `${base}${suffix || '.jsonl.gz'}`;
  for (let n = 1; existsSync(aside); n++) aside = `${base}-${n}${suffix || '.jsonl.gz'}`;
  try {
    renameSync(path, aside);
  } catch (e) {
    throw new RecordingFileError(path, `it holds a recording that could not be moved aside to ${aside}: ${fsReason(e)}`, { cause: e });
  }
  return aside;
}
