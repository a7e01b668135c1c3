/** How often the symbols that stopped trading are asked after, each alone (exchangeInfo?symbol=, weight 20). */
export const STOPPED_RECHECK_MS = 5 * 60_000;
/** Asked after for this long after they stopped (a delisted symbol stays in BREAK for good). */
const KEEP_MS = 24 * 3_600_000;
/** The most symbols asked after at once: the latest to stop. */
const MAX_SYMBOLS = 5;

export interface StoppedSymbolsConfig {
  /** The symbol's status on the exchange (`TRADING`, `BREAK`…), or undefined when the exchange no longer knows it. */
  askStatus(symbol: string): Promise<string | undefined>;
  /** One of them trades again: the catalog is to be read again whole (it pins and serves it). */
  trading(): void;
  everyMs?: number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

/**
 * The symbols that stopped trading (a halt, a `BREAK`) or were configured while not trading, asked
 * after every `everyMs` until they trade again or the exchange forgets them, for a day at most. The
 * catalog is read whole once an hour (a large body), so a symbol halted for ten minutes stayed refused
 * to every chart for up to an hour after it traded again.
 */
export class StoppedSymbols {
  /** Symbol → when it stopped; oldest first. */
  private readonly since = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private checking = false;
  private readonly now: () => number;

  constructor(private readonly cfg: StoppedSymbolsConfig) {
    this.now = cfg.now ?? Date.now;
    this.timer = setInterval(() => void this.check(), cfg.everyMs ?? STOPPED_RECHECK_MS);
    this.timer.unref();
  }

  stopped(symbol: string): void {
    this.since.delete(symbol);
    this.since.set(symbol, this.now());
    for (const oldest of this.since.keys()) {
      if (this.since.size <= MAX_SYMBOLS) break;
      this.since.delete(oldest);
    }
  }

  resumed(symbol: string): void {
    this.since.delete(symbol);
  }

  /** The symbols asked after now. */
  symbols(): string[] {
    return [...this.since.keys()];
  }

  /** Asks after each one, one at a time; tells `trading` once if any trades again. */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const t = this.now();
      let again = false;
      for (const [symbol, at] of [...this.since]) {
        if (t - at > KEEP_MS) {
          this.since.delete(symbol);
          continue;
        }
        try {
          const status = await this.cfg.askStatus(symbol);
          if (status === undefined) this.since.delete(symbol);
          else if (status === 'TRADING') again = true;
        } catch (e) {
          this.cfg.onError?.(e);
        }
      }
      if (again) this.cfg.trading();
    } finally {
      this.checking = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
