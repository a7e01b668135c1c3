/** A client's resume point, from `?epoch=E&since=N` on the WebSocket URL. */
export interface ResumeRequest {
  readonly epoch: string;
  readonly since: number;
}

/** An epoch as the engine makes them (series-log.ts's newEpoch, with a batch's suffix). */
export const EPOCH_RE = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Reads `epoch` and `since` from a WebSocket request's query. Neither given: no resume. Both must
 * be well formed together (an epoch id as the engine sends it, an offset as a non-negative integer);
 * anything else is a client bug and gets a clear error.
 */
export function parseResume(epoch: string | undefined, since: string | undefined): { ok: true; value: ResumeRequest | undefined } | { ok: false; error: string } {
  if (epoch === undefined && since === undefined) return { ok: true, value: undefined };
  if (epoch === undefined || !EPOCH_RE.test(epoch)) return { ok: false, error: 'resume needs epoch=<id from a message> (1-64 letters, digits, _ or -) with since' };
  if (since === undefined || !/^\d{1,15}$/.test(since)) return { ok: false, error: 'resume needs since=<offset> (a non-negative integer) with epoch' };
  return { ok: true, value: { epoch, since: Number(since) } };
}
