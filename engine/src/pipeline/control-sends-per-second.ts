import type { Exchange } from './connect-exchange.ts';

/** A replay's: its exchange is on loopback and answers at once (it counts nothing). */
export const REPLAY_SENDS_PER_SECOND = 1000;

/**
 * How many control messages (SUBSCRIBE, UNSUBSCRIBE, pongs) each stream shard may send a second, by
 * exchange: undefined (the shards' 3, under Binance's 5, which the simulator enforces as Binance does)
 * but for a replay. A replay holds every frame while the first frame of a stream the live run opened
 * on demand waits for its SUBSCRIBE (late-streams.ts), so at 3 a second each such stream stalled the
 * whole replay a third of a second (12 of them: 4 s for a recording played in 41 ms without them).
 */
export function controlSendsPerSecond(kind: Exchange['kind']): number | undefined {
  return kind === 'replay' ? REPLAY_SENDS_PER_SECOND : undefined;
}
