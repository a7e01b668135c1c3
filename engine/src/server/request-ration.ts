import type HyperExpress from 'hyper-express';
import { echo } from '../domain/echo.ts';
import { AddressRateLimit } from './address-rate-limit.ts';
import { clientAddress } from './client-address.ts';
import type { Send } from './close-after-answer.ts';
import { sendJson } from './send-json.ts';

export interface RequestRationOptions {
  /** Requests one client address may make a second on average (HTTP_REQUESTS_PER_SECOND). */
  perSecond: number;
  /** Proxies whose X-Forwarded-For names the client (TRUST_PROXY). */
  trustProxy?: readonly string[];
  /** Counts each request refused. */
  refused?: () => void;
  /** What sets `perSecond`, for the 429's message (default HTTP_REQUESTS_PER_SECOND). */
  setting?: string;
  now?: () => number;
}

/** A ration's check: true when the request may go on, false when it was answered (429). */
export type RequestRation = (req: HyperExpress.Request, res: HyperExpress.Response, cost?: number) => boolean;

/** An answer counts one more request in the ration for each this many bytes of its body. */
export const BYTES_PER_REQUEST = 64 * 1024;

/**
 * Bounds HTTP requests (the JSON API and the web client's files) per client address: `perSecond` on
 * average after a burst of 5 seconds' worth (at least 20; a chart's load and a fast scroll back fit
 * in it). Beyond, the answer is 429 `rate_limited` with Retry-After, before the route does any work.
 * Without it one address kept 64 requests for 1,000 candles in flight (1.7 ms of CPU each) and pushed
 * `/livez` to 54–174 ms (an attacker-style probe). A request may count for more than one (`cost`: a
 * long range of a derived series is tens of ms of CPU); one costing more than the burst takes all of it.
 * An answer also counts one more for each BYTES_PER_REQUEST of its body, taken as it is sent: a
 * client that does not read leaves every answer in the host's kernel (an orphaned socket holds what
 * it was sent while the client acknowledges with a zero window, an attacker-style probe held 312 MB
 * from one address in 60 s at 19 requests a second), so the ration bounds bytes an address is sent
 * a second, not only requests.
 */
export function requestRation(opts: RequestRationOptions): RequestRation {
  const burst = Math.max(20, opts.perSecond * 5);
  const limit = new AddressRateLimit({ perMinute: opts.perSecond * 60, burst, now: opts.now });
  return (req, res, cost = 1) => {
    const address = clientAddress(req.ip, req.headers['x-forwarded-for'], opts.trustProxy ?? []);
    const wait = limit.take(address, Math.min(cost, burst));
    if (wait === 0) {
      // A HEAD answer carries no body (http-edges.ts headFrom).
      if (req.method === 'HEAD') return true;
      const send = res.send.bind(res) as Send;
      let charged = false;
      (res as unknown as { send: Send }).send = (body, close) => {
        // Once: hyper-express calls send again itself for a body it could not write at once.
        if (!charged) {
          charged = true;
          const bytes = typeof body === 'string' ? Buffer.byteLength(body) : Buffer.isBuffer(body) ? body.length : 0;
          limit.charge(address, Math.floor(bytes / BYTES_PER_REQUEST));
        }
        return send(body, close);
      };
      return true;
    }
    opts.refused?.();
    res.header('retry-after', String(wait));
    sendJson(res, 429, { error: `too many requests from ${echo(address, 64)} (${opts.setting ?? 'HTTP_REQUESTS_PER_SECOND'} ${opts.perSecond} after a burst); retry in ${wait} s`, code: 'rate_limited' });
    return false;
  };
}
