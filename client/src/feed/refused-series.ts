import { splitSeriesLabel } from '../api.ts';

/**
 * The series name an engine `error` names when it refused a socket for one of its derived series
 * (`unknown series 'nope'; …`, `rsi: parameter 'period' must be …`, `series 'rsi': …`), when that
 * name is one the socket asked for; undefined for any other refusal. The engine sends these with no
 * `code`, so the message is all there is: read only against the names asked, never guessed.
 */
export function refusedSeriesName(message: string, labels: readonly string[]): string | undefined {
  const asked = new Set(labels.map((l) => splitSeriesLabel(l).name));
  const m = /^unknown series '([^']*)'/.exec(message) ?? /^series '([^':;]*)/.exec(message) ?? /^([A-Za-z0-9][\w-]*): /.exec(message);
  const name = m?.[1];
  return name !== undefined && asked.has(name) ? name : undefined;
}
