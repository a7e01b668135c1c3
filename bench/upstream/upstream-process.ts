/**
 * Child process: the simulated exchange plus the pacing relay, i.e. the one upstream every server under
 * test consumes (REST straight from the simulator, the stream through the relay). Send times of the
 * relay's frames go to the parent in batches, for the load workers' latency tables.
 */
import { startSimExchange } from '../../engine/sim/sim-exchange.ts';
import { childConfig, emit, serve } from '../lib/ipc.ts';
import { PacingRelay } from './pacing-relay.ts';

export interface UpstreamConfig {
  symbols: string[];
  seed: number;
  /** The simulator's own push period; the relay sets the rate servers see. */
  pushIntervalMs: number;
}

const cfg = childConfig<UpstreamConfig>();
const sim = await startSimExchange({ host: '127.0.0.1', port: 0, seed: cfg.seed, symbols: cfg.symbols, pushIntervalMs: cfg.pushIntervalMs });

let feed = false;
let batch: Array<[string, number]> = [];
const relay = await PacingRelay.start({
  upstreamWsUrl: sim.wsUrl,
  onSend: (key, at) => {
    if (feed) batch.push([key, at]);
  },
});
const flusher = setInterval(() => {
  if (batch.length === 0) return;
  emit('sent', { entries: batch });
  batch = [];
}, 20);

let windowStart = performance.now();
serve(
  {
    rate: (m) => void relay.setRate(Number(m.perStream)),
    feed: (m) => {
      feed = Boolean(m.on);
      batch = [];
    },
    'window-start': () => {
      relay.resetCounts();
      windowStart = performance.now();
    },
    'sim-stats': () => ({ ...sim.stats }),
    'window-end': () => ({ sent: Object.fromEntries(relay.sent), seconds: (performance.now() - windowStart) / 1000 }),
  },
  async () => {
    clearInterval(flusher);
    await relay.close();
    await sim.close();
  },
);
emit('ready', { restUrl: sim.restUrl, wsUrl: relay.url, simWsUrl: sim.wsUrl });
