/**
 * What a Redis failure may show in /health and logs: the kind of failure, never the server's
 * address or any part of its URL (which may carry a password). Network errors are reduced to their
 * code; other messages lose anything that looks like a URL, an address or a host:port.
 */
export function redisErrorText(e: unknown): string {
  const err = (e ?? {}) as { code?: unknown; message?: unknown };
  if (typeof err.code === 'string' && /^E[A-Z_]+$/.test(err.code)) return `connection failed (${err.code})`;
  const message = typeof err.message === 'string' ? err.message : String(e);
  return message
    .replace(/rediss?:\/\/\S*/gi, '<url>')
    .replace(/\[[0-9a-f:.]+\](:\d+)?/gi, '<host>')
    .replace(/\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b/g, '<host>')
    .replace(/\b[a-z0-9][\w.-]*:\d{2,5}\b/gi, '<host>')
    .replace(/\b(ENOTFOUND|EAI_AGAIN)\s+\S+/g, '$1 <host>')
    .slice(0, 200);
}
