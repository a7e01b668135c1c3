/** A bad batch option: the command line prints it on one line naming the flag and exits with code 2. */
export class BatchUsageError extends Error {
  override readonly name = 'BatchUsageError';
  readonly info: { flag: string; value: string | undefined };
  constructor(flag: string, message: string, options: ErrorOptions & { value?: string } = {}) {
    super(`--${flag}: ${message}`, options);
    this.info = { flag, value: options.value };
  }

  /** The flag at fault, without dashes. */
  get flag(): string {
    return this.info.flag;
  }
}
