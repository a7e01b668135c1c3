import { echo } from '../domain/echo.ts';
import { parseResume, type ResumeRequest } from '../cluster/resume-request.ts';
import type { SeriesRefusal, SeriesRequest, SeriesService } from '../series/series-registry.ts';
import { BAD_SERIES } from '../series/series-requests.ts';
import { type Catalog, type Checked, checkSeries } from './request-params.ts';

/** The query parameters `/ws/:symbol` takes. */
const WS_PARAMS = new Set(['interval', 'series', 'epoch', 'since']);

/** What an upgraded socket asked for (`ws.context`), or why it is refused. */
export interface WsContext {
  symbol?: string;
  interval?: string;
  series?: SeriesRequest[];
  /** Derived series asked for that this interval cannot serve: reported failed to the client, not refusing it (see SeriesRefusal). */
  refused?: SeriesRefusal[];
  resume?: ResumeRequest;
  error?: string;
  code?: string;
  /** With `code` `bad_series`: the name of the `series=` entry that made the request malformed. */
  badSeries?: string;
  /** The client's address: starting a cold series is rationed per address. */
  address?: string;
}

/** A request that passed its checks. */
export type ValidContext = WsContext & { symbol: string; interval: string };

/**
 * `/ws/:symbol?interval=&series=&epoch=&since=` read into a socket's context: the series, its derived
 * series and a resume, or the first failure (`error`, and `code` when the wire has one).
 * `parseSeries`: SeriesService's parse, or a memo of it.
 */
export function wsRequest(
  catalog: Catalog,
  parseSeries: SeriesService['parse'],
  rawSymbol: string,
  query: Checked<Record<string, string | undefined>>,
): WsContext {
  const q = query.ok ? query.value : {};
  // A parameter this route does not take is refused, not ignored (`?intervals=5m` served 1m), as on /candles.
  const unknown = query.ok ? Object.keys(q).find((k) => !WS_PARAMS.has(k)) : undefined;
  const checked =
    unknown !== undefined ? { ok: false as const, error: `unknown parameter '${echo(unknown, 40)}' (this route takes ${[...WS_PARAMS].join(', ')})` } : query.ok ? checkSeries(catalog, rawSymbol, q.interval) : query;
  const wanted = checked.ok ? parseSeries(q.series, checked.value.interval) : undefined;
  const resume = parseResume(q.epoch, q.since);
  return !checked.ok ? { error: checked.error, code: checked.code } : wanted && !wanted.ok ? { error: wanted.error, code: BAD_SERIES, badSeries: wanted.series } : !resume.ok ? { error: resume.error } : { ...checked.value, series: wanted?.ok ? wanted.value : [], refused: wanted?.ok ? wanted.refused : [], resume: resume.value };
}
