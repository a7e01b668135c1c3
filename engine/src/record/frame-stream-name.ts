const ENVELOPE = '{"stream":"';

/**
 * The stream a combined-stream frame names (`{"stream":"btcusdt@kline_1m","data":…}`, as Binance and the
 * simulator send them), read from its first bytes without parsing it: a replay asks this of frames as
 * they play. Undefined for any other frame (a bare event, another spelling).
 */
export function frameStreamName(text: string): string | undefined {
  if (!text.startsWith(ENVELOPE)) return undefined;
  const end = text.indexOf('"', ENVELOPE.length);
  return end > ENVELOPE.length ? text.slice(ENVELOPE.length, end) : undefined;
}
