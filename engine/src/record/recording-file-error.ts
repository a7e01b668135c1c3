/**
 * A recording file that cannot be used: RECORD_FILE not writable, or REPLAY_FILE missing, empty,
 * not gzip or not a recording. The caller that knows which setting named the file turns it into a
 * ConfigError; a batch run reports it as a usage error.
 */
export class RecordingFileError extends Error {
  override readonly name = 'RecordingFileError';
  readonly info: { path: string; reason: string };
  constructor(path: string, reason: string, options?: ErrorOptions) {
    super(`${path}: ${reason}`, options);
    this.info = { path, reason };
  }
}

/** An fs error's code and text without the path Node appends (the message names the path once). */
export function fsReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return (err.message ?? String(e)).replace(/, \w+ '.*'$/s, '');
}
