import { type Config, isUniverse } from '../config/config.ts';
import type { Logger } from '../log.ts';
import { type ReplayExchange, startReplayExchange } from '../record/replay-exchange.ts';
import { BinanceRest } from '../sources/binance-rest.ts';
import { type SimExchange, type SimOptions, startSimExchange } from '../../sim/sim-exchange.ts';

/** The exchange the engine talks to: Binance, the built-in simulator, or a recording played back. */
export interface Exchange {
  kind: 'binance' | 'sim' | 'replay';
  restUrl: string;
  wsUrl: string;
  /** The exchange's clock (the simulator's may run fast; a replay's is the recording's). */
  now(): number;
  sim?: SimExchange;
  replay?: ReplayExchange;
  /** Symbols and intervals to follow (a replay's come from the recording). */
  symbols: string[];
  intervals: string[];
  close(): Promise<void>;
}

/**
 * Chooses and starts the exchange for SOURCE: `auto` probes Binance for 3 s and falls back to the
 * simulator, loudly; `sim` starts the simulator in-process; `replay` plays REPLAY_FILE.
 */
export async function connectExchange(config: Config, log: Logger, simOptions?: SimOptions): Promise<Exchange> {
  let kind: Exchange['kind'] = config.source === 'sim' || config.source === 'replay' ? config.source : 'binance';
  if (config.source === 'auto') {
    const probe = new BinanceRest({ baseUrl: config.restUrl, weightBudget: config.restWeightBudget, concurrency: 1 });
    const reachable = await probe.ping(3000);
    await probe.close();
    if (!reachable) {
      kind = 'sim';
      log.warn(`Binance (${config.restUrl}) did not answer within 3 s: running on the SIMULATED exchange. Prices are not real. Set SOURCE=binance to insist on Binance.`);
    }
  }
  if (kind === 'sim') {
    // SYMBOLS=*: the simulator's own universe.
    const sim = await startSimExchange({ symbols: isUniverse(config.symbols) ? undefined : config.symbols, ...simOptions });
    log.info('simulated exchange started', { rest: sim.restUrl, ws: sim.wsUrl });
    return { kind, restUrl: sim.restUrl, wsUrl: sim.wsUrl, now: () => sim.now(), sim, symbols: config.symbols, intervals: config.intervals, close: () => sim.close() };
  }
  if (kind === 'replay') {
    const replay = await startReplayExchange({ file: config.replayFile!, speed: config.replaySpeed });
    log.info(`replaying ${config.replayFile} at ${config.replaySpeed === 'max' ? 'maximum speed' : `${config.replaySpeed}x`}`, { symbols: replay.symbols.length, intervals: replay.intervals.join(',') });
    return { kind, restUrl: replay.restUrl, wsUrl: replay.wsUrl, now: () => replay.now(), replay, symbols: replay.symbols, intervals: replay.intervals, close: () => replay.close() };
  }
  return { kind, restUrl: config.restUrl, wsUrl: config.wsUrl, now: Date.now, symbols: config.symbols, intervals: config.intervals, close: async () => undefined };
}
