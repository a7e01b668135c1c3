import { createStore } from 'zustand/vanilla';
import type { Candle } from './candle.ts';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'stale' | 'error';

export interface MarketState {
  /** Candles per `SYMBOL:interval`, strictly increasing by time, unique, capped. */
  candlesByKey: Record<string, Candle[]>;
  /** Bumped each time a `historical` replaces a series: the chart reloads from the store. */
  generationByKey: Record<string, number>;
  selection: { symbol: string; interval: string };
  connection: ConnectionState;
  /** What the engine says of its own upstream. */
  upstream: 'live' | 'reconnecting' | 'stale' | 'unknown';
  source: string | null;
  lastUpdateAt: number;
  error: string | null;
  symbols: string[];
  intervals: string[];
  /** Derived-series points per `label|SYMBOL:interval`, by time. */
  seriesPoints: Record<string, Map<number, Record<string, number>>>;
  /** The engine's derived series (from `GET /series`). */
  seriesCatalog: Array<{ name: string; description: string; pane: 'overlay' | 'oscillator'; plot: string[] | null }>;
}

export const initialMarketState = (): MarketState => ({
  candlesByKey: {},
  generationByKey: {},
  selection: { symbol: 'BTCUSDT', interval: '1m' },
  connection: 'connecting',
  upstream: 'unknown',
  source: null,
  lastUpdateAt: 0,
  error: null,
  symbols: [],
  intervals: [],
  seriesPoints: {},
  seriesCatalog: [],
});

/** The client's single source of truth (a vanilla store, bridged into Solid). */
export const market = createStore<MarketState>(initialMarketState);
