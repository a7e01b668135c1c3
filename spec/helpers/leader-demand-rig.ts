import type { Redis } from 'ioredis';
import { BehaviorSubject } from 'rxjs';
import type { DemandKeys } from '../../engine/src/cluster/cluster-keys.ts';
import type { SeriesId } from '../../engine/src/domain/series-id.ts';
import { DEMAND_STALE_MS } from '../../engine/src/cluster/demand-member.ts';
import { LeaderDemand } from '../../engine/src/cluster/leader-demand.ts';
import type { LeaderLease } from '../../engine/src/cluster/leader-lease.ts';
import type { DemandOutcome, SeriesDemand } from '../../engine/src/pipeline/series-demand.ts';

/**
 * A real LeaderDemand over Redis on a node that leads, with a fake lifecycle: `want` answers as given
 * (default: live at once), releases are recorded in `released`. `stop` ends it and its subscriber.
 */
export function leaderDemandRig(r: Redis, keys: DemandKeys, opts: { want?: SeriesDemand['want']; seed?: (id: SeriesId) => Promise<void> | void; pollMs?: number; staleMs?: number; maxSeries?: number } = {}) {
  const released: string[] = [];
  const sub = r.duplicate();
  const demand: SeriesDemand = {
    isLive: () => false,
    touch: () => {},
    want: opts.want ?? (() => Promise.resolve<DemandOutcome>({ ok: true })),
    release: (id) => void released.push(id.key),
  };
  const lease = { leader$: new BehaviorSubject(true), state: { leader: true } } as unknown as LeaderLease;
  const leader = new LeaderDemand({ redis: r, subscriber: sub, keys, lease, demand, seed: opts.seed ?? (() => {}), staleMs: opts.staleMs ?? DEMAND_STALE_MS, pollMs: opts.pollMs ?? 1000, maxSeries: opts.maxSeries ?? 100 });
  return {
    leader,
    sub,
    released,
    stop() {
      leader.stop();
      sub.disconnect();
    },
  };
}
