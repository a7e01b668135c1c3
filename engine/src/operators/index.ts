/**
 * The quant operator API: import from the package name (`kline-engine` or `kline-engine/operators`).
 * Every operator works on the engine's domain `Bar` and returns an RxJS `OperatorFunction`.
 */
export type { Bar } from '../domain/bar.ts';
export {
  BINANCE_INTERVALS,
  type BinanceInterval,
  bucketOpen,
  closeTime,
  type Interval,
  intervalMs,
  isNativeInterval,
  nextOpen,
  parseInterval,
  parseTimeZone,
} from '../domain/interval.ts';
export type { MultiPoint, Point } from './point.ts';
export type { PriceSource } from './validate.ts';
export { formingAware, type FormingAwareConfig, type Kernel, onBars, type PeriodConfig, periodIndicator } from './forming-aware.ts';
export { resample, type ResampleConfig } from './resample.ts';
export { sma, type SmaConfig, smaKernel, type SmaState } from './sma.ts';
export { windowKernel, type WindowState } from './window.ts';
export { ema, type EmaConfig, emaKernel, type EmaState } from './ema.ts';
export { wma, type WmaConfig, wmaKernel } from './wma.ts';
export { rsi, type RsiConfig, rsiKernel } from './rsi.ts';
export { macd, type MacdConfig, type MacdPoint } from './macd.ts';
export { bollingerBands, type BollingerBandsConfig, type BollingerBandsPoint } from './bollinger-bands.ts';
export { atr, type AtrConfig } from './atr.ts';
export { stddev, type StddevConfig, stddevKernel } from './stddev.ts';
export { vwap, type VwapConfig } from './vwap.ts';
export { defineSeries, type SeriesDefinition, type SeriesPoint } from '../series/define-series.ts';
