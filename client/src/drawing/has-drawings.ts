/** Cheap check (in the main bundle) whether a symbol has saved drawings: only then is the drawing code loaded at start. */
export function hasDrawings(symbol: string): boolean {
  try {
    return localStorage.getItem(`kline-engine:drawings:${symbol}`) !== null;
  } catch {
    return false;
  }
}
