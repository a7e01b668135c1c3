import { echo } from '../domain/echo.ts';
import { RECORDING_VERSION, type RecordLine } from './recording-format.ts';

/**
 * Why a recording's meta line rules it out for this engine's reader, or undefined when it does not: a
 * format version other than RECORDING_VERSION (none reads as 1). Its lines would be read as malformed
 * and skipped, and whatever reads it (a replay, the series batch) would serve nothing, silently.
 */
export function formatVersionProblem(meta: Extract<RecordLine, { k: 'meta' }>): string | undefined {
  const version = (meta as { version?: unknown }).version ?? 1;
  if (version === RECORDING_VERSION) return undefined;
  return `its meta line says format version ${echo(JSON.stringify(version) ?? String(version), 40)}: this engine reads version ${RECORDING_VERSION}`;
}
