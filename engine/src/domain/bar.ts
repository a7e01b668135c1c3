/** The engine's one domain bar. Times are epoch milliseconds (UTC), prices and volume numbers. */
export interface Bar {
  readonly openTime: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
  /** true once the bar is final; false while it is still forming. */
  readonly closed: boolean;
}

/** Two bars carry the same values (used to drop duplicate updates). */
export function sameBar(a: Bar, b: Bar): boolean {
  return (
    a.openTime === b.openTime &&
    a.open === b.open &&
    a.high === b.high &&
    a.low === b.low &&
    a.close === b.close &&
    a.volume === b.volume &&
    a.closed === b.closed
  );
}
