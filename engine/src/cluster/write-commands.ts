import type { Redis } from 'ioredis';
import { INSTANCE_FREE_LUA, POINT_BATCH_LUA, POINT_WRITE_LUA, SERIES_EXPIRY_LUA, SERIES_FREE_LUA, WINDOW_SEED_LUA, WRITE_BATCH_LUA } from './cluster-scripts.ts';

/** The writer's connection with its scripts defined (see defineWriteCommands). */
export type WithWrite = Redis & {
  /** numkeys, keys…, args… (the number of keys depends on the batch). */
  clusterWriteBatch(...args: Array<string | number>): Promise<Array<number | string>>;
  clusterSeedWindow(...args: Array<string | number>): Promise<Array<number | string>>;
  clusterWritePoint(...args: Array<string | number>): Promise<[number, number?, string?]>;
  clusterWritePoints(...args: Array<string | number>): Promise<Array<number | string>>;
  clusterSeriesExpiry(...args: Array<string | number>): Promise<number>;
  clusterSeriesFree(...args: Array<string | number>): Promise<number>;
  clusterInstanceFree(...args: Array<string | number>): Promise<number>;
};

/** Defines the writer's scripts on `redis`, those it does not have yet. */
export function defineWriteCommands(redis: Redis): void {
  if (typeof (redis as unknown as { clusterWriteBatch?: unknown }).clusterWriteBatch !== 'function') redis.defineCommand('clusterWriteBatch', { lua: WRITE_BATCH_LUA });
  if (typeof (redis as unknown as { clusterSeedWindow?: unknown }).clusterSeedWindow !== 'function') redis.defineCommand('clusterSeedWindow', { numberOfKeys: 4, lua: WINDOW_SEED_LUA });
  if (typeof (redis as unknown as { clusterWritePoint?: unknown }).clusterWritePoint !== 'function') redis.defineCommand('clusterWritePoint', { numberOfKeys: 4, lua: POINT_WRITE_LUA });
  if (typeof (redis as unknown as { clusterWritePoints?: unknown }).clusterWritePoints !== 'function') redis.defineCommand('clusterWritePoints', { numberOfKeys: 4, lua: POINT_BATCH_LUA });
  if (typeof (redis as unknown as { clusterSeriesExpiry?: unknown }).clusterSeriesExpiry !== 'function') redis.defineCommand('clusterSeriesExpiry', { numberOfKeys: 4, lua: SERIES_EXPIRY_LUA });
  if (typeof (redis as unknown as { clusterSeriesFree?: unknown }).clusterSeriesFree !== 'function') redis.defineCommand('clusterSeriesFree', { numberOfKeys: 6, lua: SERIES_FREE_LUA });
  if (typeof (redis as unknown as { clusterInstanceFree?: unknown }).clusterInstanceFree !== 'function') redis.defineCommand('clusterInstanceFree', { numberOfKeys: 6, lua: INSTANCE_FREE_LUA });
}
