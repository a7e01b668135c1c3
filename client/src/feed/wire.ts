/**
 * The client's own copy of the engine's wire shapes (ARCHITECTURE.md, "Wire protocol"). Kept here,
 * never imported from engine/: the browser bundle must not depend on engine code, and the wire is a
 * contract that both sides check, not a shared type.
 */

/** A candle as the protocol carries it: `time` is the open time in epoch ms. */
export interface WireCandle {
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  is_closed: boolean;
}

/** Position of a series in the engine's update log (issue 13): resume with `&epoch=&since=`. */
export interface StreamPosition {
  epoch: string;
  offset: number;
}

/** One symbol of `GET /symbols`' `markets`. */
export interface Market {
  symbol: string;
  base: string;
  quote: string;
}

/** A derived series' parameter as `GET /series` declares it (default, and a range when declared). */
export interface SeriesParamSpec {
  name: string;
  default: number | string | boolean;
  type: 'number' | 'string' | 'boolean';
  min?: number;
  max?: number;
  step?: number;
  integer?: boolean;
  options?: string[];
}

/** One entry of `GET /series`. */
export interface SeriesDef {
  name: string;
  description: string;
  pane: 'overlay' | 'oscillator';
  plot: string[] | null;
  params: SeriesParamSpec[];
  /** The one interval it is computed on, when its definition pins one: the engine refuses it on any other. */
  interval?: string;
}

/** `retryAfterSec`: refused at a cap (the engine's load), worth asking again after it. */
export type SeriesState = { state: 'live' } | { state: 'failed'; error: string; retryAfterSec?: number };
