import type { SeriesId } from '../domain/series-id.ts';
import type { OlderBars } from './older-bars.ts';
import type { RunSlices } from './run-slices.ts';
import type { SeriesFeeds } from './series-feeds.ts';
import type { SeriesRegistryDeps } from './series-registry-deps.ts';
import type { SeriesRequest } from './series-requests.ts';

/** An instance as its host logs and forgets it. */
export interface HostedInstance {
  readonly req: SeriesRequest;
  readonly id: SeriesId;
  readonly key: string;
  readonly label: string;
}

/**
 * What a live instance needs of the registry that holds it (the registry is one; an interface of its
 * own keeps the two files from naming each other).
 */
export interface InstanceHost {
  readonly registryDeps: SeriesRegistryDeps;
  readonly isStopped: boolean;
  /** The clock bars are timed by. */
  readonly now: () => number;
  readonly slices: RunSlices;
  readonly older: OlderBars;
  readonly feeds: SeriesFeeds;
  logFailure(inst: HostedInstance, err: unknown, attempt: number, gaveUp: boolean): void;
  /** A live bar took instance `key` `ms` of the event loop (see LiveTimeShare). */
  timedLive(key: string, ms: number): void;
  /** Instance `key`'s run stopped (a failure, a repair, a release): its time counts no more. */
  untimed(key: string): void;
  /** The instance stopped for good: the host lets it go. */
  forget(inst: HostedInstance): void;
}
