import type { Redis } from 'ioredis';

/** Deletes every key under `prefix` (a suite's own namespace in the test database), by SCAN. */
export async function deletePrefix(r: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length) await r.del(...keys);
  } while (cursor !== '0');
}
