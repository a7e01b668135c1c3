import { type SeriesId, seriesId } from '../domain/series-id.ts';

export interface EdgeConfiguredOptions {
  /** SYMBOLS: a list, or '*' for every symbol the leader's markets list as trading. */
  symbols: readonly string[] | '*';
  intervals: readonly string[];
  feed: {
    follow(ids: readonly SeriesId[]): Promise<void>;
    unfollow(id: SeriesId): Promise<void>;
    isLoaded(id: SeriesId): boolean;
    isWritten(id: SeriesId): boolean;
  };
  /** A series that stopped trading: its clients are told (and, with '*', it is let go). */
  ended(id: SeriesId, message: string): void;
  /** Frees what the edge kept of a series let go (window, snapshot, positions). */
  free(id: SeriesId): void;
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

  /** The leader's markets changed (`added` is every market on the first call). */
  async marketsChanged(added: readonly string[], removed: readonly string[], message: (symbol: string) => string): Promise<void> {
    for (const symbol of removed) {
      for (const id of this.byKey.values()) {
        if (id.symbol !== symbol) continue;
        this.o.ended(id, message(symbol));
        if (!this.universe) continue;
        this.byKey.delete(id.key);
        void this.o.feed.unfollow(id).then(() => this.o.free(id));
      }
    }
    if (this.universe) await this.follow(added);
  }

  /** Every followed series loaded and written by a leader (with '*', once the markets are known). */
  ready(marketsLoaded: boolean): boolean {
    if (this.universe && !marketsLoaded) return false;
    for (const id of this.byKey.values()) if (!this.o.feed.isLoaded(id) || !this.o.feed.isWritten(id)) return false;
    return true;
  }

  /**
   * Followed series loaded but never written by a leader: a leader not there yet, or one whose
   * SYMBOLS or INTERVALS lack them (named in /health, so a mismatch is found without reading code).
   */
  unwritten(): string[] {
    return [...this.byKey.values()].filter((id) => this.o.feed.isLoaded(id) && !this.o.feed.isWritten(id)).map((id) => id.key);
  }

  /** Whether every followed series has loaded its first snapshot (written or not). */
  get loaded(): boolean {
    for (const id of this.byKey.values()) if (!this.o.feed.isLoaded(id)) return false;
    return true;
  }

  private follow(symbols: readonly string[]): Promise<void> {
    const fresh = symbols.flatMap((s) => this.o.intervals.map((i) => seriesId(s, i))).filter((id) => !this.byKey.has(id.key));
    for (const id of fresh) this.byKey.set(id.key, id);
    return this.o.feed.follow(fresh);
  }
}
