/**
 * The URL a node says it listens on: a wildcard host (`0.0.0.0`, `::`) as `localhost`, an IPv6 host in
 * brackets (`HOST=::` made `http://:::8080`, no URL at all).
 */
export function shownUrl(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}
