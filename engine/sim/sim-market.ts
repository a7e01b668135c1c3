import { type MarketEntry, SYMBOL_STATUSES, type SymbolStatus } from './sim-universe.ts';

/** The simulator's markets and their status; tests change a status with setStatus. */
export class SimMarket {
  private readonly entries: MarketEntry[];
  private readonly bySymbol = new Map<string, MarketEntry>();
  private tradingCache: string[] | undefined;

  constructor(entries: readonly MarketEntry[]) {
    this.entries = entries.map((e) => ({ ...e }));
    for (const e of this.entries) this.bySymbol.set(e.symbol, e);
  }

  /** Every market, any status, in listing order (what exchangeInfo returns). */
  list(): readonly MarketEntry[] {
    return this.entries;
  }

  has(symbol: string): boolean {
    return this.bySymbol.has(symbol);
  }

  entry(symbol: string): MarketEntry | undefined {
    return this.bySymbol.get(symbol);
  }

  status(symbol: string): SymbolStatus | undefined {
    return this.bySymbol.get(symbol)?.status;
  }

  isTrading(symbol: string): boolean {
    return this.bySymbol.get(symbol)?.status === 'TRADING';
  }

  /** The TRADING symbols in listing order (a fresh array only after a status change). */
  trading(): readonly string[] {
    return (this.tradingCache ??= this.entries.filter((e) => e.status === 'TRADING').map((e) => e.symbol));
  }

  /**
   * Changes a symbol's status: exchangeInfo reports it, and a non-TRADING symbol's streams stop
   * pushing (subscriptions stay, as on Binance) while its REST klines still answer.
   */
  setStatus(symbol: string, status: SymbolStatus): void {
    const e = this.bySymbol.get(symbol);
    if (!e) throw new TypeError(`setStatus: unknown symbol '${symbol}'`);
    if (!SYMBOL_STATUSES.includes(status)) throw new TypeError(`setStatus: status must be one of ${SYMBOL_STATUSES.join(', ')}, got '${String(status)}'`);
    if (e.status === status) return;
    e.status = status;
    this.tradingCache = undefined;
  }
}
