/**
 * A client's text as an error message (or a log line) may quote it: at most `max` characters, and
 * anything but printable ASCII shown as a `\uXXXX` escape, so a quoted symbol can carry no control
 * character, line break or bidirectional override into a log or onto a screen.
 */
export function echo(raw: string, max: number): string {
  const shown = raw.slice(0, max).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  // The one character not escaped: the ellipsis that marks a cut.
  return raw.length > max ? `${shown}…` : shown;
}
