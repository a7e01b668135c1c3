import type { Bar } from '../domain/bar.ts';

/** What the upstream connections report: kline updates, and each shard going up or down. */
export type UpstreamEvent =
  /** `eventTime` is the exchange's `E`: its clock when it sent the event. */
  | { type: 'kline'; symbol: string; interval: string; bar: Bar; receivedAt: number; eventTime: number }
  /** A shard is (re)connected. After a reconnect (not a rotation) its series must be re-synced from REST. */
  | { type: 'connected'; shard: number; streams: readonly string[]; resync: boolean }
  | { type: 'disconnected'; shard: number; reason: string }
  /**
   * Streams of a delivering shard that sent nothing for their interval plus a grace (the exchange
   * acknowledged them and went quiet on them): subscribed again; their series must be re-synced.
   */
  | { type: 'silent'; shard: number; streams: readonly string[] }
  /** A shard left with no streams was closed on purpose (not an outage). */
  | { type: 'closed'; shard: number };
