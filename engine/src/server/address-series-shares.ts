import type { SeriesId } from '../domain/series-id.ts';
import { MAX_SERIES_PER_REQUEST, type SeriesRequest } from '../series/series-registry.ts';
import { AddressVariants } from './address-variants.ts';

/** Parameter variants of one definition on one series a client address may hold (the registry keeps 16 per series for everyone). */
export const MAX_VARIANTS_PER_ADDRESS = 4;

/** Derived-series variants an address holds, counted for the whole cluster: see SharedConnections. */
export interface SharedVariants {
  /** `held`: every label of `def` on `series` this node's sockets from `address` hold, a new socket's included. */
  variantsTaken(address: string, series: string, def: string, held: ReadonlyArray<readonly [string, number]>): Promise<boolean>;
  variantsReleased(address: string, series: string, def: string, held: ReadonlyArray<readonly [string, number]>): void;
  /** `held`: every instance this node's sockets from `address` hold (see instancesPerAddress), a new socket's included. */
  instancesTaken(address: string, held: ReadonlyArray<readonly [string, number]>): Promise<boolean>;
  instancesReleased(address: string, held: ReadonlyArray<readonly [string, number]>): void;
}

/**
 * The derived-series instances (series, parameters, symbol, interval) one client address may hold at
 * once, with per-address limits on: a sixteenth of MAX_SERIES_INSTANCES, and at least a full request.
 * One address took all 500 from 34 sockets (an attacker-style probe), within its variant cap and its
 * ration of new ones, and every other address's new derived series were refused while it held them.
 * An instance counts once however many of the address's sockets hold it.
 */
export const instancesPerAddress = (maxSeriesInstances: number): number => Math.max(MAX_SERIES_PER_REQUEST, Math.ceil(maxSeriesInstances / 16));

/** AddressVariants's definition under which an address's instances are counted (every series together). */
const INSTANCES = 'instances';

/** The definitions of these variants, each once. */
const definitions = (variants: ReadonlyArray<{ def: string }>): string[] => [...new Set(variants.map((v) => v.def))];

/** What one socket holds of its address's shares (AddressSeriesShares.socket). */
export interface SocketShares {
  /**
   * Takes the shares of the derived series `serving()` lists, in the order asked: one past its
   * address's share is refused alone (`refuseOne`, which takes it out of `serving()`), then `next`
   * runs. The cluster's counts are asked after this node's; after their answer, nothing runs once
   * `closed()`.
   */
  take(serving: () => readonly SeriesRequest[], refuseOne: (label: string, error: string) => void, closed: () => boolean, next: () => void): void;
  /** Gives back what `take` held (the socket closed). */
  release(): void;
}

export interface AddressSeriesSharesConfig {
  /** MAX_CONNECTIONS_PER_ADDRESS: the shares apply with per-address limits on (0 or absent: off). */
  maxConnectionsPerAddress?: number;
  /** MAX_SERIES_INSTANCES: one client address may hold instancesPerAddress of them. */
  maxSeriesInstances?: number;
  /** MAX_VARIANTS_PER_ADDRESS and the instances' share for the whole cluster (an edge's SharedConnections), asked after this node's own. */
  shared?: SharedVariants;
}

/**
 * The derived series each client address may hold: MAX_VARIANTS_PER_ADDRESS parameter variants of a
 * definition on a series, and instancesPerAddress instances in all, counted on this node and, on an
 * edge, for the whole cluster.
 */
export class AddressSeriesShares {
  // With per-address limits on (MAX_CONNECTIONS_PER_ADDRESS), parameter variants too.
  private readonly perAddressVariants: AddressVariants;
  // And the instances an address holds, every series together.
  private readonly perAddressInstances: AddressVariants;
  private readonly tooManyInstances: string;

  constructor(private readonly config: AddressSeriesSharesConfig) {
    this.perAddressVariants = new AddressVariants(config.maxConnectionsPerAddress ? MAX_VARIANTS_PER_ADDRESS : 0);
    const instanceShare = config.maxConnectionsPerAddress && config.maxSeriesInstances ? instancesPerAddress(config.maxSeriesInstances) : 0;
    this.perAddressInstances = new AddressVariants(instanceShare);
    this.tooManyInstances = `at most ${instanceShare} derived series held at once from one address (a sixteenth of MAX_SERIES_INSTANCES): close some first`;
  }

  /** The shares a socket of `address` on series `id` holds, none yet. */
  socket(address: string, id: SeriesId): SocketShares {
    const { perAddressVariants, perAddressInstances, tooManyInstances } = this;
    const sharedVariants = this.config.shared;
    let variants: Array<{ def: string; label: string }> = [];
    // This socket's instances as counted for its address (label: series and parameters).
    let ownInstances: Array<{ def: string; label: string }> = [];
    const tooManyVariants = (def: string) => `at most ${MAX_VARIANTS_PER_ADDRESS} parameter variants of '${def}' on ${id.symbol} ${id.interval} from one address`;
    const releaseInstances = () => {
      if (!ownInstances.length) return;
      perAddressInstances.release(address, '', ownInstances);
      sharedVariants?.instancesReleased(address, perAddressInstances.held(address, '', INSTANCES));
      ownInstances = [];
    };
    return {
      take(serving, refuseOne, closed, next) {
        // The address's share of the instances (this node's count, then the cluster's), in the order
        // asked: those past it are refused alone.
        const share = () => {
          for (const r of [...serving()]) {
            const held = [{ def: INSTANCES, label: `${id.key} ${r.label}` }];
            if (perAddressInstances.take(address, '', held)) refuseOne(r.label, tooManyInstances);
            else ownInstances.push(...held);
          }
          const shared = sharedVariants;
          if (!ownInstances.length || !shared) return next();
          void shared.instancesTaken(address, perAddressInstances.held(address, '', INSTANCES)).then((fits) => {
            if (closed()) return;
            if (!fits) {
              const refused = new Set(ownInstances.map((m) => m.label));
              releaseInstances();
              for (const r of [...serving()]) if (refused.has(`${id.key} ${r.label}`)) refuseOne(r.label, tooManyInstances);
            }
            next();
          });
        };
        // Variants first: a series refused for them spends none of the address's ON_DEMAND_PER_MIN.
        // Per definition: the variants of one over its cap are refused alone, the rest served.
        const asked = serving().filter((r) => r.label !== r.def.name).map((r) => ({ def: r.def.name, label: r.label }));
        for (const def of definitions(asked)) {
          const mine = asked.filter((v) => v.def === def);
          // Held until close (released there, whatever ends the socket).
          if (!perAddressVariants.take(address, id.key, mine)) variants.push(...mine);
          else for (const v of mine) refuseOne(v.label, tooManyVariants(def));
        }
        // On an edge, the cluster's count for the address too (every edge's), then the rest.
        const shared = sharedVariants;
        if (!variants.length || !shared) return share();
        const defs = definitions(variants);
        void Promise.all(defs.map((def) => shared.variantsTaken(address, id.key, def, perAddressVariants.held(address, id.key, def)))).then((fits) => {
          if (closed()) return;
          defs.forEach((def, i) => {
            if (fits[i]) return;
            const mine = variants.filter((v) => v.def === def);
            variants = variants.filter((v) => v.def !== def);
            perAddressVariants.release(address, id.key, mine);
            shared.variantsReleased(address, id.key, def, perAddressVariants.held(address, id.key, def));
            for (const v of mine) refuseOne(v.label, tooManyVariants(def));
          });
          share();
        });
      },
      release() {
        perAddressVariants.release(address, id.key, variants);
        for (const def of definitions(variants)) sharedVariants?.variantsReleased(address, id.key, def, perAddressVariants.held(address, id.key, def));
        releaseInstances();
      },
    };
  }
}
