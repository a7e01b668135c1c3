import { type Config, isUniverse } from '../config/config.ts';
import { ConfigError } from '../domain/errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { Recorder } from '../record/recorder.ts';
import { RecordingFileError } from '../record/recording-file-error.ts';
import { RECORDING_VERSION } from '../record/recording-format.ts';
import { BinanceRest } from '../sources/binance-rest.ts';
import { fetchMarkets, guessMarket } from '../sources/exchange-info.ts';
import type { SimOptions } from '../../sim/sim-exchange.ts';
import { connectExchange, type Exchange } from './connect-exchange.ts';
import type { PipelineMetrics } from './engine-metrics.ts';
import { SeriesCatalog } from './series-catalog.ts';

export interface MarketConnectionConfig {
  /** The engine's configuration: its symbols and intervals become the exchange's (a replay's come from its recording). */
  config: Config;
  log: Logger;
  metrics: Metrics;
  /** The pipeline's counters (REST weight and retries). */
  counters: PipelineMetrics;
  simOptions?: SimOptions;
}

/** The exchange, its REST client and what it trades: everything the series feed reads the market through. */
export interface MarketConnection {
  readonly exchange: Exchange;
  /** SYMBOLS=* was configured: the whole exchange. */
  readonly universe: boolean;
  readonly catalog: SeriesCatalog;
  readonly rest: BinanceRest;
  /** RECORD_FILE: every upstream frame and REST response, for replays. */
  readonly recorder?: Recorder;
  /** Reads the exchange's TRADING markets into the catalog; what changed. */
  loadMarkets(signal?: AbortSignal): Promise<{ added: string[]; removed: string[]; held?: number }>;
  /** Closes REST, the exchange (a simulator or replay it started) and the recording. */
  close(): Promise<void>;
}

/** The longest the start waits for the exchange's markets before serving the configured symbols without them. */
const START_MARKETS_DEADLINE_MS = 15_000;

/**
 * Connects to the exchange SOURCE names (Binance, the built-in simulator or a recording), builds the
 * REST client on the exchange's clock and budget, and reads the markets once: a failing exchangeInfo
 * does not stop the start (the configured symbols are served until it answers).
 */
export async function connectMarket({ config, log, metrics, counters, simOptions }: MarketConnectionConfig): Promise<MarketConnection> {
  // As configured (SYMBOLS=*), before a replay's recording names its symbols.
  const universe = isUniverse(config.symbols);
  const exchange = await connectExchange(config, log, simOptions, metrics);
  const source = exchange.kind;
  config.symbols = exchange.symbols;
  config.intervals = exchange.intervals;
  const recorder = config.recordFile ? await openRecorder(config.recordFile, log, exchange) : undefined;
  recorder?.write({ k: 'meta', version: RECORDING_VERSION, t: exchange.now(), symbols: config.symbols, intervals: config.intervals, source });
  if (recorder) log.info(`recording every upstream frame and REST response to ${config.recordFile}`);

  const catalog = new SeriesCatalog(universe && source !== 'replay' ? '*' : config.symbols, config.intervals, source, config.bufferSize);
  // A replay serves what its recording holds: the symbols the live run opened on demand too.
  if (exchange.markets) catalog.setMarkets(exchange.markets.map(guessMarket));
  const rest = new BinanceRest({
    baseUrl: exchange.restUrl,
    weightBudget: config.restWeightBudget,
    concurrency: config.restConcurrency,
    // The exchange's clock decides which REST row is still forming (the simulator's may run fast).
    now: exchange.now,
    onResponse: recorder ? (q, status, body, askedAt) => recorder.write({ k: 'rest', t: exchange.now(), a: askedAt, q, s: status, b: body }) : undefined,
    onWeight: (w) => counters.restWeight(w),
    onRetry: (err, attempt) => {
      counters.restRetries();
      log.warn('REST retry', { path: err.info.path, status: err.info.status, code: err.info.code, attempt });
    },
  });
  const loadMarkets = async (signal?: AbortSignal) => {
    const { markets, skipped } = await fetchMarkets(rest, signal);
    const change = catalog.setMarkets(markets);
    if (skipped) log.warn('exchangeInfo entries skipped (malformed or bad symbol names)', { skipped });
    return change;
  };
  const firstMarkets = async () => {
    try {
      // Bounded: REST's own retries of a dripping exchangeInfo held the start for 3 minutes.
      await loadMarkets(AbortSignal.timeout(START_MARKETS_DEADLINE_MS));
      log.info(`exchange trades ${catalog.symbols().length} symbols`, { configured: universe ? '*' : catalog.configured().length });
      if (catalog.rejected.length) log.warn(`configured symbols not trading on the exchange, skipped: ${catalog.rejected.join(', ')}`);
    } catch (e) {
      log.warn('exchangeInfo failed: serving the configured symbols until it answers', { err: e as Error });
    }
  };
  // Both reads at once: a start waits for the longer deadline, not their sum. A replay's exchange
  // knows only its recording: its symbols are the catalog.
  await Promise.all([exchange.clockRead, source !== 'replay' && firstMarkets()]);
  return {
    exchange,
    universe,
    catalog,
    rest,
    recorder,
    loadMarkets,
    async close() {
      await rest.close();
      await exchange.close();
      await recorder?.close();
    },
  };
}

/**
 * RECORD_FILE opened for writing: a path that cannot be written is a configuration error (main exits 2
 * on it, and the exchange just started is closed). A write that fails later (a full disk) stops the
 * recording with one warning; the engine keeps serving.
 */
async function openRecorder(path: string, log: Logger, exchange: Exchange): Promise<Recorder> {
  try {
    const recorder = new Recorder(path, { onError: (err) => log.warn(`recording stopped: RECORD_FILE ${path} could not be written; the engine keeps serving`, { err }) });
    // A restart (a crash loop) must not wipe the recording of the run that crashed.
    if (recorder.movedAside) log.warn(`RECORD_FILE ${path} already held a recording: moved it to ${recorder.movedAside}`, { from: path, to: recorder.movedAside });
    return recorder;
  } catch (e) {
    await exchange.close();
    if (!(e instanceof RecordingFileError)) throw e;
    const accepted = `a file that can be written (${e.info.reason})`;
    throw new ConfigError(`RECORD_FILE=${JSON.stringify(path)} is invalid: expected ${accepted}`, { cause: e, info: { variable: 'RECORD_FILE', value: path, accepted } });
  }
}
