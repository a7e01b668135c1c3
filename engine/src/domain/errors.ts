/** One error class per failure. Each carries a read-only `info` with the facts a handler needs. */

abstract class InfoError<I> extends Error {
  readonly info: I;
  constructor(message: string, options: ErrorOptions & { info: I }) {
    super(message, options);
    this.info = options.info;
  }
}

export class ConfigError extends InfoError<{ variable: string; value: string | undefined; accepted: string }> {
  override readonly name = 'ConfigError';
}

export class InvalidNameError extends InfoError<{ field: string; value: string }> {
  override readonly name = 'InvalidNameError';
}

/** A REST call answered with a Binance error body or an HTTP failure. */
export class BinanceRestError extends InfoError<{ status: number; code?: number; path: string; retryAfterMs?: number }> {
  override readonly name = 'BinanceRestError';
  /** 5xx, timeouts, 429/418 and -1003/-1007/-1008 are worth another try; 4xx is not. */
  get retryable(): boolean {
    const { status, code } = this.info;
    return status === 0 || status >= 500 || status === 429 || status === 418 || code === -1003 || code === -1007 || code === -1008;
  }
}

/** A gap could not be filled from REST after all retries. */
export class GapFillError extends InfoError<{ key: string; from: number; to: number; attempt: number }> {
  override readonly name = 'GapFillError';
}

/** An upstream frame that could not be parsed. */
export class MalformedFrameError extends InfoError<{ reason: string; sample: string }> {
  override readonly name = 'MalformedFrameError';
}

/**
 * Client-driven history (`GET /candles?endTime=` older than the store) refused for now: the client's
 * address asked too often (`rate`, HTTP 429), or the exchange budget or queue left for client
 * history is spent (`busy`, HTTP 503). Both say when to try again.
 */
export class HistoryRefusedError extends InfoError<{ reason: 'rate' | 'busy'; retryAfterSec: number }> {
  override readonly name = 'HistoryRefusedError';
}
