import type HyperExpress from 'hyper-express';

/** A JSON reply that no cache keeps (every answer reflects the live state). */
export function sendJson(res: HyperExpress.Response, status: number, body: unknown): void {
  res.status(status).header('cache-control', 'no-store').json(body);
}
