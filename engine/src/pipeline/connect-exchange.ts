import { type Config, isUniverse, withoutPassword } from '../config/config.ts';
import { ConfigError } from '../domain/errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { RecordingFileError } from '../record/recording-file-error.ts';
import { type ReplayExchange, startReplayExchange } from '../record/replay-exchange.ts';
import { BinanceRest } from '../sources/binance-rest.ts';
import { ExchangeClock } from '../sources/exchange-clock.ts';
import { type SimExchange, type SimOptions, startSimExchange } from '../../sim/sim-exchange.ts';
import { everyOneAtATime } from './every-one-at-a-time.ts';

/** The exchange the engine talks to: Binance, the built-in simulator, or a recording played back. */
export interface Exchange {
  kind: 'binance' | 'sim' | 'replay';
  restUrl: string;
  wsUrl: string;
  /**
   * The exchange's clock (the simulator's may run fast; a replay's is the recording's; Binance's is
   * estimated from what it tells, never the host's). Whatever judges closedness or "now" asks this.
   */
  now(): number;
  /** The exchange told its time (a kline event's `E`): sharpens `now()` where it is estimated. */
  observe(exchangeTime: number): void;
  sim?: SimExchange;
  replay?: ReplayExchange;
  /**
   * Binance's: its clock's first reading, settled within 5 s either way (the host's clock stands in
   * until then). Awaited beside the markets' read, not before it: one stalled exchange held the start
   * for both deadlines in turn (21 s, an attacker-style probe).
   */
  clockRead?: Promise<void>;
  /** Symbols and intervals to follow (a replay's come from the recording). */
  symbols: string[];
  intervals: string[];
  /**
   * Every symbol clients may ask for, when the exchange names them itself rather than through
   * exchangeInfo: a replay's are the symbols its recording holds (the live run's on-demand ones too).
   */
  markets?: string[];
  close(): Promise<void>;
}

/**
 * Chooses and starts the exchange for SOURCE: `auto` probes Binance for 3 s and falls back to the
 * simulator, loudly; `sim` starts the simulator in-process; `replay` plays REPLAY_FILE.
 */
export async function connectExchange(config: Config, log: Logger, simOptions?: SimOptions, metrics?: Metrics): Promise<Exchange> {
  let kind: Exchange['kind'] = config.source === 'sim' || config.source === 'replay' ? config.source : 'binance';
  if (config.source === 'auto') {
    const probe = new BinanceRest({ baseUrl: config.restUrl, weightBudget: config.restWeightBudget, concurrency: 1 });
    const reachable = await probe.ping(3000);
    await probe.close();
    if (!reachable) {
      kind = 'sim';
      log.warn(`Binance (${withoutPassword(config.restUrl)}) did not answer within 3 s: running on the SIMULATED exchange. Prices are not real. Set SOURCE=binance to insist on Binance.`);
    }
  }
  if (kind === 'sim') {
    // The simulator's own universe (any of its symbols can be asked for on demand), unless a
    // configured symbol is not in it: then exactly the configured ones.
    let sim = await startSimExchange({ ...simOptions });
    const listed = new Set(sim.market.list().map((m) => m.symbol));
    if (!simOptions?.symbols && !isUniverse(config.symbols) && !config.symbols.every((s) => listed.has(s))) {
      await sim.close();
      sim = await startSimExchange({ ...simOptions, symbols: config.symbols });
    }
    log.info('simulated exchange started', { rest: sim.restUrl, ws: sim.wsUrl });
    return { kind, restUrl: sim.restUrl, wsUrl: sim.wsUrl, now: () => sim.now(), observe: ignore, sim, symbols: config.symbols, intervals: config.intervals, close: () => sim.close() };
  }
  if (kind === 'replay') {
    const replay = await startReplay(config.replayFile!, config.replaySpeed);
    if (replay.endedEarly) {
      log.warn(`REPLAY_FILE ${config.replayFile} ends early (${replay.endedEarly.reason}): replaying the ${replay.endedEarly.lines} complete lines before the cut`);
    }
    if (replay.stats.malformedLines) log.warn(`REPLAY_FILE ${config.replayFile}: malformed lines skipped`, { lines: replay.stats.malformedLines });
    log.info(`replaying ${config.replayFile} at ${config.replaySpeed === 'max' ? 'maximum speed' : `${config.replaySpeed}x`}`, {
      symbols: replay.symbols.length,
      onDemand: replay.heldSymbols.length - replay.symbols.length,
      intervals: replay.intervals.join(','),
    });
    return { kind, restUrl: replay.restUrl, wsUrl: replay.wsUrl, now: () => replay.now(), observe: ignore, replay, symbols: replay.symbols, intervals: replay.intervals, markets: replay.heldSymbols, close: () => replay.close() };
  }
  const clock = startExchangeClock(config, log, metrics);
  return {
    kind,
    clockRead: clock.read,
    restUrl: config.restUrl,
    wsUrl: config.wsUrl,
    now: clock.now,
    observe: (t) => clock.observe(t),
    symbols: config.symbols,
    intervals: config.intervals,
    close: clock.close,
  };
}

const ignore = (): void => undefined;

/** A recording that cannot be replayed is a configuration error naming REPLAY_FILE (main exits 2 on it). */
async function startReplay(file: string, speed: Config['replaySpeed']): Promise<ReplayExchange> {
  try {
    return await startReplayExchange({ file, speed });
  } catch (e) {
    if (!(e instanceof RecordingFileError)) throw e;
    const accepted = `a gzip recording made with RECORD_FILE (${e.info.reason})`;
    throw new ConfigError(`REPLAY_FILE=${JSON.stringify(file)} is invalid: expected ${accepted}`, { cause: e, info: { variable: 'REPLAY_FILE', value: file, accepted } });
  }
}

/** How often Binance's clock is asked (weight 1); kline events' `E` sharpen it in between. */
const CLOCK_SYNC_MS = 60_000;
/** The longest the start waits for the exchange's time. */
const START_CLOCK_DEADLINE_MS = 5000;

/**
 * Binance's clock, as a lower bound: asked at once (`read` settles when it answered or gave up, and
 * the start awaits it before the bootstrap, so that judges closedness by it), then every minute, and
 * sharpened by every kline event. If the first ask fails, the host's clock stands in until the
 * exchange answers or streams; that is said loudly.
 */
function startExchangeClock(config: Config, log: Logger, metrics?: Metrics): { now: () => number; observe: (t: number) => void; read: Promise<void>; close: () => Promise<void> } {
  const clock = new ExchangeClock();
  if (metrics) {
    const skew = metrics.gauge('engine_exchange_clock_skew_ms', "The exchange's clock minus the host's, as the engine estimates it (a lower bound)");
    metrics.onCollect(() => skew(clock.skewMs ?? 0));
  }
  const rest = new BinanceRest({ baseUrl: config.restUrl, weightBudget: config.restWeightBudget, concurrency: 1, maxAttempts: 2, timeoutMs: 5000 });
  const sync = (signal?: AbortSignal) => clock.sync(() => rest.serverTime(signal));
  // Bounded: two dripped answers held the start 30 s (an attacker-style probe); the host's clock stands in meanwhile.
  const read = sync(AbortSignal.timeout(START_CLOCK_DEADLINE_MS)).then(
    () => {
      const skew = clock.skewMs!;
      const msg = `exchange clock: ${Math.abs(skew)} ms ${skew >= 0 ? 'ahead of' : 'behind'} the host's; closedness follows the exchange's`;
      if (Math.abs(skew) > 1000) log.warn(msg);
      else log.info(msg);
    },
    (e: unknown) => log.warn(`could not read the exchange's clock (GET /api/v3/time): the host's clock stands in until it answers or streams`, { err: e as Error }),
  );
  // One at a time: while REST was refused (a 418 ban lasts up to 3 days) one a minute waited in the
  // gate, and all went at once when it lifted (a review: 24 in a second after a 4 s ban).
  const stopSyncs = everyOneAtATime((signal) => sync(signal).catch((e: unknown) => log.debug('exchange clock sync failed', { err: e as Error })), CLOCK_SYNC_MS);
  return {
    now: clock.now,
    observe: (t) => clock.observe(t),
    read,
    close: async () => {
      stopSyncs();
      await rest.close();
    },
  };
}
