import { parseInterval } from '../domain/interval.ts';
import { isValidSymbol } from '../domain/series-id.ts';
import { echo } from '../domain/echo.ts';
import { RECORDING_VERSION, type RecordLine } from './recording-format.ts';

type Meta = Extract<RecordLine, { k: 'meta' }>;

/**
 * Why a recording's meta line cannot start a replay, or undefined when it can. Its symbols and
 * intervals become the engine's series (Redis keys, topics), so they pass the same checks as SYMBOLS
 * and INTERVALS; a recording of nothing would start an engine serving nothing. A format version
 * other than this engine's (none reads as 1) is refused: its lines would be skipped as malformed, and
 * the replay served nothing.
 */
export function metaProblem(meta: Meta): string | undefined {
  const version = (meta as { version?: unknown }).version ?? 1;
  if (version !== RECORDING_VERSION) return `its meta line says format version ${show(version)}: this engine reads version ${RECORDING_VERSION}`;
  if (!Number.isFinite(meta.t)) return 'its meta line has no valid time';
  if (meta.symbols.length === 0) return 'its meta line lists no symbols';
  if (meta.intervals.length === 0) return 'its meta line lists no intervals';
  for (const s of meta.symbols as unknown[]) {
    if (typeof s !== 'string' || !isValidSymbol(s)) return `its meta line has an invalid symbol ${show(s)}: expected 2-20 upper-case letters or digits`;
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
