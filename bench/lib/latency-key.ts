/**
 * Identifies one candle update end to end: the upstream side builds it from the Binance frame it sends,
 * a load worker from the `live_candle` it receives (numbers compare as numbers, so "36510.01000000"
 * upstream and 36510.01 on the wire give the same key).
 */
export function latencyKey(symbol: string, interval: string, time: number, close: number, volume: number): string {
  return `${symbol}|${interval}|${time}|${close}|${volume}`;
}
