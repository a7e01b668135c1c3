import { isUniverse } from '../config/config.ts';
import { parseInterval } from '../domain/interval.ts';
import { isValidSymbol } from '../domain/series-id.ts';
import { echo } from '../domain/echo.ts';
import { formatVersionProblem } from './format-version-problem.ts';
import type { RecordLine } from './recording-format.ts';

type Meta = Extract<RecordLine, { k: 'meta' }>;

/**
 * Why a recording's meta line cannot start a replay, or undefined when it can. Its symbols and
 * intervals become the engine's series (Redis keys, topics), so they pass the same checks as SYMBOLS
 * and INTERVALS: a list of symbols, or `*` (recorded with SYMBOLS=*: the symbols are then those the
 * recording holds bars of); a recording of nothing would start an engine serving nothing. Its time
 * names the replay's Redis namespace (replay-key-prefix.ts), so it must be a time in ms. A
 * format version other than this engine's (none reads as 1) is refused: its lines would be skipped as
 * malformed, and the replay served nothing.
 */
export function metaProblem(meta: Meta): string | undefined {
  const version = formatVersionProblem(meta);
  if (version) return version;
  if (!(meta.t >= 0 && meta.t <= Number.MAX_SAFE_INTEGER)) return `its meta line has no valid time (${show(meta.t)}: expected ms since 1970)`;
  if (meta.symbols.length === 0) return 'its meta line lists no symbols';
  if (meta.intervals.length === 0) return 'its meta line lists no intervals';
  for (const s of isUniverse(meta.symbols) ? [] : (meta.symbols as unknown[])) {
    if (typeof s !== 'string' || !isValidSymbol(s)) return `its meta line has an invalid symbol ${show(s)}: expected 2-20 upper-case letters, digits, '-', '_' or '.', or '*' alone`;
  }
  for (const i of meta.intervals as unknown[]) {
    if (typeof i !== 'string' || !isInterval(i)) return `its meta line has an invalid interval ${show(i)}: expected intervals like 1m, 5m, 1h, 1d`;
  }
  return undefined;
}

function isInterval(name: string): boolean {
  try {
    parseInterval(name);
    return true;
  } catch {
    return false;
  }
}

const show = (v: unknown): string => echo(JSON.stringify(v) ?? String(v), 40);
