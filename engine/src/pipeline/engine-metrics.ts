import type { Metrics } from '../metrics.ts';

/** Every counter the pipeline reports in /metrics, declared in one place. */
export function pipelineMetrics(m: Metrics) {
  return {
    framesIn: m.counter('engine_upstream_frames_total', 'Frames received from the upstream WebSocket'),
    malformed: m.counter('engine_upstream_malformed_frames_total', 'Upstream frames that could not be parsed (skipped)'),
    reconnects: m.counter('engine_upstream_reconnects_total', 'Upstream connections lost and re-dialled'),
    silentStreams: m.counter('engine_upstream_silent_streams_total', 'Streams silent for their interval plus 10 s while their connection delivered others (subscribed again, re-synced)'),
    candlesWritten: m.counter('engine_candles_written_total', 'Bar upserts persisted by the store'),
    storeErrors: m.counter('engine_store_write_errors_total', 'Store writes that failed (retried on reconnect)'),
    gapsDetected: m.counter('engine_gaps_detected_total', 'Gaps detected in a series (missing buckets, unclosed bars, resyncs)'),
    gapsFilled: m.counter('engine_gaps_filled_total', 'Gaps filled from REST'),
    gapsUnfilled: m.counter('engine_gaps_unfilled_total', 'Gap fills that failed after retries (repaired later)'),
    barsFilled: m.counter('engine_gap_bars_filled_total', 'Bars spliced in from REST'),
    restRetries: m.counter('engine_rest_retries_total', 'REST calls retried after 5xx, timeout or rate limit'),
    restWeight: m.gauge('engine_rest_weight_used', 'REST weight used in the current minute (X-MBX-USED-WEIGHT-1M)'),
    bootstrapDone: m.gauge('engine_bootstrap_series_done', 'Series bootstrapped'),
  };
}
export type PipelineMetrics = ReturnType<typeof pipelineMetrics>;
