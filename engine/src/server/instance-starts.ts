import { MAX_SERIES_PER_REQUEST } from '../series/series-registry.ts';
import { AddressRateLimit } from './address-rate-limit.ts';

const instancesRateLimited = (wait: number) => `too many new derived series from this address (ON_DEMAND_PER_MIN); retry in ${wait} s`;

/**
 * Each new derived-series instance is a warm-up (here, or on the cluster's leader through Redis):
 * rationed per address like new series; joining an instance someone holds is free. A burst fits a
 * full request (16 series).
 */
export class InstanceStarts {
  private readonly instanceStarts: AddressRateLimit | undefined;

  /**
   * `perMinute`: ON_DEMAND_PER_MIN (absent = no limit). `shared`: the same ration kept for the whole
   * cluster (an edge's SharedRateLimit), taken after this node's own.
   */
  constructor(
    perMinute: number | undefined,
    private readonly shared?: { take(address: string, n: number): Promise<number> },
  ) {
    this.instanceStarts = perMinute ? new AddressRateLimit({ perMinute, burst: Math.max(MAX_SERIES_PER_REQUEST, Math.ceil(perMinute / 2)) }) : undefined;
  }

  /**
   * Takes `starting` new instances from the ration of `address` (this node's, then the cluster's): runs
   * `go` when they fit, else `refuse` with why and the seconds to wait. After the cluster's answer,
   * neither once `closed()`.
   */
  take(address: string, starting: number, closed: () => boolean, go: () => void, refuse: (message: string, wait: number) => void): void {
    const { instanceStarts } = this;
    const wait = starting && instanceStarts ? instanceStarts.take(address, starting) : 0;
    if (wait > 0) return refuse(instancesRateLimited(wait), wait);
    // On an edge, the cluster's ration for the address too (every edge's), then as above.
    const shared = this.shared;
    if (!starting || !shared) return go();
    void shared.take(address, starting).then((w) => {
      if (closed()) return;
      if (w > 0) return refuse(instancesRateLimited(w), w);
      go();
    });
  }
}
