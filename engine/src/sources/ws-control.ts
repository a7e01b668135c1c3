/**
 * Binance's WebSocket control protocol (`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`): requests with
 * ids, and their replies: `{"result":null,"id":7}` on success, `{"code":2,"msg":"…","id":7}` on error,
 * `{"error":{"code":4,"msg":"Too many subscriptions"}}` before the server cuts the connection.
 */
export type ControlMethod = 'SUBSCRIBE' | 'UNSUBSCRIBE' | 'LIST_SUBSCRIPTIONS';

export type ControlReply =
  | { id: number | string | null; ok: true; result: unknown }
  | { id: number | string | null; ok: false; code: number; msg: string };

export function controlRequest(method: ControlMethod, params: readonly string[] | undefined, id: number): string {
  return JSON.stringify(params ? { method, params, id } : { method, id });
}

/**
 * The control reply in a frame, or undefined for anything else (a stream event). Stream events of the
 * combined endpoint start with `{"stream"`, so the common frame costs one prefix test, not a parse.
 */
export function parseControlReply(text: string): ControlReply | undefined {
  if (text.startsWith('{"stream"')) return undefined;
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return undefined;
  const m = msg as Record<string, unknown>;
  const id = typeof m.id === 'number' || typeof m.id === 'string' ? m.id : null;
  if ('result' in m && 'id' in m) return { id, ok: true, result: m.result };
  if (typeof m.code === 'number' && 'id' in m) return { id, ok: false, code: m.code, msg: typeof m.msg === 'string' ? m.msg : '' };
  if (typeof m.error === 'object' && m.error !== null) {
    const e = m.error as Record<string, unknown>;
    return { id, ok: false, code: typeof e.code === 'number' ? e.code : -1, msg: typeof e.msg === 'string' ? e.msg : '' };
  }
  return undefined;
}
