// The live bars of a series reach its instances through one subscription per series, not one per
// instance; while nobody listens to an instance, it is fed closed bars only.
import type { Subscription } from 'rxjs';
import type { Bar } from '../domain/bar.ts';
import type { SeriesId } from '../domain/series-id.ts';
import type { SeriesRegistryDeps } from './series-registry-deps.ts';

/** One instance's entry in its series' feed. */
export interface FeedTarget {
  readonly topic: string;
  next(bar: Bar): void;
}

/** One subscription to a series' bars, feeding every instance on it. */
interface Feed {
  subscription: Subscription;
  targets: FeedTarget[];
  /** Bumped on every attach or detach. */
  version: number;
}

/** The registry's feeds, by series key. */
export class SeriesFeeds {
  private readonly feeds = new Map<string, Feed>();

  constructor(private readonly deps: Pick<SeriesRegistryDeps, 'bars$' | 'listening' | 'listenersVersion'>) {}

  /** Feeds every bar of the series to `target` from now on (one subscription per series). */
  attach(id: SeriesId, target: FeedTarget): void {
    let feed = this.feeds.get(id.key);
    if (!feed) {
      const { listening, listenersVersion } = this.deps;
      // The targets someone listens to, as of `version` (NaN: never computed).
      let heard: FeedTarget[] = [];
      let version = Number.NaN;
      let changes = -1;
      const f: Feed = { subscription: undefined as unknown as Subscription, targets: [], version: 0 };
      f.subscription = this.deps.bars$(id).subscribe((bar) => {
        // While nobody listens to an instance, a forming bar's preview would be computed for no one:
        // only closed bars go in (closed values never depend on previews).
        if (bar.closed || !listening) {
          for (const t of f.targets) t.next(bar);
          return;
        }
        const v = listenersVersion ? listenersVersion() : Number.NaN;
        if (v !== version || f.version !== changes || Number.isNaN(v)) {
          heard = f.targets.filter((t) => listening(t.topic));
          version = v;
          changes = f.version;
        }
        for (const t of heard) t.next(bar);
      });
      feed = f;
      this.feeds.set(id.key, feed);
    }
    // Copy on write: a target that fails (and detaches) while the feed loops over the list must not
    // make the loop skip the next one.
    feed.targets = [...feed.targets, target];
    feed.version++;
  }

  detach(id: SeriesId, target: FeedTarget): void {
    const feed = this.feeds.get(id.key);
    if (!feed) return;
    if (!feed.targets.includes(target)) return;
    feed.targets = feed.targets.filter((t) => t !== target);
    feed.version++;
    if (feed.targets.length === 0) {
      feed.subscription.unsubscribe();
      this.feeds.delete(id.key);
    }
  }

  /** Ends the series' feed, whatever it still feeds. */
  release(id: SeriesId): void {
    const feed = this.feeds.get(id.key);
    feed?.subscription.unsubscribe();
    this.feeds.delete(id.key);
  }

  stop(): void {
    for (const f of this.feeds.values()) f.subscription.unsubscribe();
    this.feeds.clear();
  }
}
