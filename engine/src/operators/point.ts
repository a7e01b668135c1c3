/** One value of a single-output indicator, at the `openTime` of the bar it was computed from. */
export interface Point {
  readonly time: number;
  readonly value: number;
  /** false for a preview computed from a forming bar; true once that bar closed. */
  readonly closed: boolean;
}

/** One value of a multi-output indicator (MACD, Bollinger Bands). */
export interface MultiPoint<K extends string> {
  readonly time: number;
  readonly values: Readonly<Record<K, number>>;
  readonly closed: boolean;
}
