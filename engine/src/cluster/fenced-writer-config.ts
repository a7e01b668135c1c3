import type { Redis } from 'ioredis';

/** What a FencedWriter writes through, and where (its parts share it: bar-write-queue, instance-log-writes, log-expiries, run-id-tracker). */
export interface FencedWriterConfig {
  redis: Redis;
  keyPrefix?: string;
  leaseKey: string;
  /** Bars kept per series (the sorted set's cap). */
  bufferSize: number;
  /** Updates kept per series for resumes and edge repairs. */
  historyUpdates: number;
  /** Freed bar series Redis keeps at most, for the whole cluster (see SERIES_FREE_LUA), and freed instance logs (INSTANCE_FREE_LUA); default MAX_FREED_KEPT. */
  maxFreedKept?: number;
  /**
   * The Redis written to is another one than before (its run id changed: a restart, perhaps from an
   * older file). What it lost of the last writes is not written again by the writes that follow: the
   * caller heals it (the ingest node takes the lead again). Called once per change.
   */
  onRedisChanged?: (before: string, now: string) => void;
}
