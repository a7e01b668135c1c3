import type { Redis } from 'ioredis';

/** How long a connection's QUIT may take at shutdown before it is cut. */
export const QUIT_WITHIN_MS = 1000;

/**
 * Closes a Redis connection politely (QUIT: what it sent is answered first), or cuts it when Redis
 * does not answer within `ms`: a hung Redis held a stopping node until its 15 s limit, which then
 * exited 1 though everything was stopped (an operator's review). Errors of the closing connection are
 * ignored from here on.
 */
export async function quitRedis(redis: Redis, ms = QUIT_WITHIN_MS): Promise<void> {
  // A command still under way as the connection closes (a scan that began before stop) fails with
  // EPIPE as an `error` event: expected now, not ioredis's "Unhandled error event" and its stack in a
  // stopping node's log (a chaos soak), once the node's own listeners are gone.
  redis.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  const cut = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      redis.disconnect();
      resolve();
    }, ms);
  });
  try {
    await Promise.race([redis.quit().then(() => undefined, () => redis.disconnect()), cut]);
  } finally {
    clearTimeout(timer);
  }
}
