import { type Params, resolveParams, type SeriesDefinition } from '../src/series/define-series.ts';
import { loadSeriesModules } from '../src/series/load-series.ts';
import { BatchUsageError } from './batch-usage-error.ts';

/**
 * `rsi` or `ema-cross:fast=5;slow=12` → the definition from `seriesDir` and its resolved parameters.
 * Throws BatchUsageError naming `--series` (unknown name, with the available ones; bad parameter;
 * interval the series is not computed on) or `--series-dir` (a module that does not load).
 */
export async function resolveSeriesSpec(seriesDir: string, spec: string, interval: string): Promise<{ definition: SeriesDefinition; params: Params }> {
  let defs: SeriesDefinition[];
  try {
    defs = await loadSeriesModules(seriesDir);
  } catch (e) {
    throw new BatchUsageError('series-dir', (e as Error).message, { cause: e, value: seriesDir });
  }
  const [name = '', ...kvs] = spec.split(':');
  const definition = defs.find((d) => d.name === name);
  if (!definition) {
    throw new BatchUsageError('series', `unknown series '${name.slice(0, 40)}'; available: ${defs.map((d) => d.name).join(', ') || `none in ${seriesDir}`}`, { value: spec });
  }
  if (definition.interval && definition.interval !== interval) {
    throw new BatchUsageError('series', `series '${name}' is computed on ${definition.interval} bars only (use --interval ${definition.interval})`, { value: spec });
  }
  const overrides: Record<string, string> = {};
  for (const kv of kvs.join(':').split(';').filter(Boolean)) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new BatchUsageError('series', `parameter '${kv.slice(0, 40)}' must be key=value`, { value: spec });
    overrides[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  try {
    return { definition, params: resolveParams(definition, overrides) };
  } catch (e) {
    throw new BatchUsageError('series', (e as Error).message, { cause: e, value: spec });
  }
}
