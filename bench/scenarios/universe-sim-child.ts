/**
 * Child of the `universe` scenario: the simulated exchange alone in its own process (so its work is
 * not charged to the engine), serving its generated universe of `universeSize` trading symbols at
 * Binance's pace (each stream pushed every 2 s).
 */
import { startSimExchange } from '../../engine/sim/sim-exchange.ts';
import { childConfig, emit, serve } from '../lib/ipc.ts';

export interface UniverseSimConfig {
  universeSize: number;
  seed: number;
  pushIntervalMs: number;
}

const cfg = childConfig<UniverseSimConfig>();
const sim = await startSimExchange({ host: '127.0.0.1', port: 0, seed: cfg.seed, universeSize: cfg.universeSize, pushIntervalMs: cfg.pushIntervalMs });
serve(
  {
    stats: () => {
      let klinesRequests = 0;
      for (const s of sim.symbols) klinesRequests += sim.klinesRequests(s);
      return { ...sim.stats, klinesRequests };
    },
  },
  () => sim.close(),
);
emit('ready', { restUrl: sim.restUrl, wsUrl: sim.wsUrl, symbols: [...sim.symbols] });
