import { type SeriesId, seriesId } from '../domain/series-id.ts';

export interface EdgeConfiguredOptions {
  /** SYMBOLS: a list, or '*' for every symbol the leader's markets list as trading. */
  symbols: readonly string[] | '*';
  intervals: readonly string[];
  feed: {
    follow(ids: readonly SeriesId[]): Promise<void>;
    unfollowAndFree(id: SeriesId, free: (id: SeriesId) => void): Promise<void>;
    isLoaded(id: SeriesId): boolean;
    isWritten(id: SeriesId): boolean;
  };
  /** A series that stopped trading: its clients are told (and, with '*', it is let go). */
  ended(id: SeriesId, message: string): void;
  /** Whether the leader's markets list the symbol as trading (once they are known). */
  isTrading(symbol: string): boolean;
  /** Frees what the edge kept of a series let go (window, snapshot, positions). */
  free(id: SeriesId): void;
  /** Says listed symbols the markets do not list as trading, once each time the set changes. */
  warn?(message: string): void;
}

/**
 * The series an edge follows at all times: SYMBOLS × INTERVALS, or with SYMBOLS=* those of every
 * symbol the leader's markets list as trading, as ROLE=all keeps the whole universe live. With '*',
 * a symbol that starts trading is followed and one that stops is ended and let go; with a list, one
 * that stops is ended and stays followed (the list is the operator's). Any other symbol is on demand.
 */
export class EdgeConfigured {
  private readonly byKey = new Map<string, SeriesId>();

  constructor(private readonly o: EdgeConfiguredOptions) {}

  get universe(): boolean {
    return this.o.symbols === '*';
  }

  get size(): number {
    return this.byKey.size;
  }

  has(id: SeriesId): boolean {
    return this.byKey.has(id.key);
  }

  /** Follows the listed symbols' series; with '*' none until the markets are known. */
  start(): Promise<void> {
    return this.o.symbols === '*' ? Promise.resolve() : this.follow(this.o.symbols);
  }

  /**
   * The leader's markets were read: `trading` every symbol they list, `removed` those gone since the
   * last read. With '*', whatever of `trading` is not followed yet is (so a follow that failed is
   * tried again with the next read).
   */
  async marketsRead(trading: readonly string[], removed: readonly string[], message: (symbol: string) => string): Promise<void> {
    for (const symbol of removed) {
      for (const id of this.byKey.values()) {
        if (id.symbol !== symbol) continue;
        this.o.ended(id, message(symbol));
        if (!this.universe) continue;
        this.byKey.delete(id.key);
        void this.o.feed.unfollowAndFree(id, this.o.free);
      }
    }
    if (this.universe) return this.follow(trading);
    // A listed symbol not trading (a typo, a delisted pair) was skipped in silence, as ingest nodes say it (an operator's review).
    const now = this.notTrading();
    if (now.join() !== this.saidNotTrading.join() && now.length) this.o.warn?.(`configured symbols not trading on the exchange, skipped: ${now.join(', ')}`);
    this.saidNotTrading = now;
  }

  private saidNotTrading: string[] = [];

  /** The listed symbols the leader's markets do not list as trading (none with '*'; call once they are read). */
  notTrading(): string[] {
    return this.o.symbols === '*' ? [] : this.o.symbols.filter((s) => !this.o.isTrading(s));
  }

  /** Every followed series loaded and written by a leader (with '*', once the markets are known). */
  ready(marketsLoaded: boolean): boolean {
    if (this.universe && !marketsLoaded) return false;
    for (const id of this.awaited(marketsLoaded)) if (!this.o.feed.isLoaded(id) || !this.o.feed.isWritten(id)) return false;
    return true;
  }

  /**
   * The series readiness waits for: once the markets are known, not a listed symbol the exchange does
   * not trade (or no longer does): no leader writes it (ingest nodes pin the trading ones), and every
   * edge stayed 503 for good, its clients told `reconnecting` (a review).
   */
  private awaited(marketsLoaded: boolean): SeriesId[] {
    const ids = [...this.byKey.values()];
    return marketsLoaded ? ids.filter((id) => this.o.isTrading(id.symbol)) : ids;
  }

  /**
   * Why it is not ready (undefined when it is). Series loaded but never written are named: a leader
   * not there yet, or ingest nodes whose SYMBOLS or INTERVALS lack them (found from /health).
   */
  notReady(marketsLoaded: boolean): string | undefined {
    if (this.ready(marketsLoaded)) return undefined;
    if (this.universe && !marketsLoaded) return 'waiting for a leader to write the markets (SYMBOLS=*)';
    const ids = this.awaited(marketsLoaded);
    if (!ids.every((id) => this.o.feed.isLoaded(id))) return 'series loading';
    const missing = ids.filter((id) => !this.o.feed.isWritten(id)).map((id) => id.key);
    const named = missing.slice(0, 5).join(', ') + (missing.length > 5 ? ` and ${missing.length - 5} more` : '');
    return `waiting for a leader to write ${named} (the ingest nodes' SYMBOLS and INTERVALS must include them)`;
  }

  private async follow(symbols: readonly string[]): Promise<void> {
    const fresh = symbols.flatMap((s) => this.o.intervals.map((i) => seriesId(s, i))).filter((id) => !this.byKey.has(id.key));
    for (const id of fresh) this.byKey.set(id.key, id);
    try {
      await this.o.feed.follow(fresh);
    } catch (e) {
      for (const id of fresh) this.byKey.delete(id.key);
      throw e;
    }
  }
}
