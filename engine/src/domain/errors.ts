/** One error class per failure. Each carries a read-only `info` with the facts a handler needs. */

interface InfoOptions<I> extends ErrorOptions {
  info: I;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly info: { variable: string; value: string | undefined; accepted: string };
  constructor(message: string, options: InfoOptions<ConfigError['info']>) {
    super(message, options);
    this.info = options.info;
  }
}

export class InvalidNameError extends Error {
  override readonly name = 'InvalidNameError';
  readonly info: { field: string; value: string };
  constructor(message: string, options: InfoOptions<InvalidNameError['info']>) {
    super(message, options);
    this.info = options.info;
  }
}

/** A REST call answered with a Binance error body or an HTTP failure. */
export class BinanceRestError extends Error {
  override readonly name = 'BinanceRestError';
  readonly info: { status: number; code?: number; path: string; retryAfterMs?: number };
  constructor(message: string, options: InfoOptions<BinanceRestError['info']>) {
    super(message, options);
    this.info = options.info;
  }
  /** 5xx, timeouts, 429/418 and -1003/-1007/-1008 are worth another try; 4xx is not. */
  get retryable(): boolean {
    const { status, code } = this.info;
    return status === 0 || status >= 500 || status === 429 || status === 418 || code === -1003 || code === -1007 || code === -1008;
  }
}

/** A gap could not be filled from REST after all retries. */
export class GapFillError extends Error {
  override readonly name = 'GapFillError';
  readonly info: { key: string; from: number; to: number; attempt: number };
  constructor(message: string, options: InfoOptions<GapFillError['info']>) {
    super(message, options);
    this.info = options.info;
  }
}

/** An upstream frame that could not be parsed. */
export class MalformedFrameError extends Error {
  override readonly name = 'MalformedFrameError';
  readonly info: { reason: string; sample: string };
  constructor(message: string, options: InfoOptions<MalformedFrameError['info']>) {
    super(message, options);
    this.info = options.info;
  }
}
