import type { Logger } from './log.ts';

/** Writes one line per kind of repeated event, not one per request. */
export interface LogDedup {
  /** Logs `msg` the first time `key` is seen in a period; later ones are counted and reported once. */
  warn(key: string, msg: string, fields?: Record<string, unknown>): void;
  /** Writes the counts still pending (at shutdown). */
  flush(): void;
}

/**
 * Deduplicates log lines by key: the first of a key is written at once; repeats within `periodMs` are
 * only counted, and the count is written (with the last fields) when the period ends and the key is
 * seen again, or at `flush`. At most `maxKeys` keys are tracked (the oldest are reported and dropped),
 * so a flood of distinct errors cannot grow it either.
 */
export function createLogDedup(log: Pick<Logger, 'warn'>, { periodMs = 10_000, maxKeys = 256, now = Date.now } = {}): LogDedup {
  const seen = new Map<string, { since: number; repeats: number; msg: string; fields?: Record<string, unknown> }>();
  const report = (e: { repeats: number; msg: string; fields?: Record<string, unknown> }) => {
    if (e.repeats > 0) log.warn(`${e.msg} (repeated ${e.repeats} more times)`, e.fields);
  };
  return {
    warn(key, msg, fields) {
      const t = now();
      const e = seen.get(key);
      if (e && t - e.since < periodMs) {
        e.repeats++;
        e.msg = msg;
        e.fields = fields;
        return;
      }
      if (e) {
        report(e);
        seen.delete(key);
      }
      log.warn(msg, fields);
      seen.set(key, { since: t, repeats: 0, msg, fields });
      if (seen.size > maxKeys) {
        const [oldestKey, oldest] = seen.entries().next().value!;
        report(oldest);
        seen.delete(oldestKey);
      }
    },
    flush() {
      for (const e of seen.values()) report(e);
      seen.clear();
    },
  };
}
