import type HyperExpress from 'hyper-express';
import { echo } from '../domain/echo.ts';
import type { RequestRation } from './request-ration.ts';

type Handler = (req: HyperExpress.Request, res: HyperExpress.Response) => unknown;

/** What a group of routes needs from the server: GET routes (HEAD, OPTIONS and 405 come with them). */
export interface RouteTable {
  /**
   * `probe`: counted in the probes' own per-address ration, not the clients' (probes and scrapes must
   * answer while a client floods from another address); `cost`: what a request counts (default 1).
   */
  get(path: string, handler: Handler, opts?: { probe?: boolean; cost?: (req: HyperExpress.Request) => number }): void;
}

export interface HttpEdgesOptions {
  /** Origins allowed to read the answers from a browser ('*' = any); empty = no CORS headers. */
  corsOrigins: readonly string[];
  /** The per-address ration of requests (request-ration.ts): false when it answered. */
  ration?: RequestRation;
  /** The per-address ration of probe routes (`/health`, `/metrics`…). */
  probeRation?: RequestRation;
}

const ALLOW = 'GET, HEAD, OPTIONS';
const PREFLIGHT_MAX_AGE_S = 600;

/**
 * A HEAD route from a GET handler: the GET's status and headers, no body, and `Content-Length: 0`.
 * uWS 20.30 ends an answer with any other length as one still waiting for its body: it neither
 * closed the connection nor timed it out, so every HEAD held a file descriptor for as long as the
 * client liked (19,980 of them took all 20,000 of an engine's, and it stopped answering). With 0
 * it is a finished answer, and its connection closes after it as after any (close-after-answer.ts).
 */
export function headFrom(handler: Handler): Handler {
  return (req, res) => {
    const send = res.send.bind(res);
    // hyper-express does not write a content-length header it is given: it reports it to uWS.
    res.send = (body?: Parameters<typeof send>[0]) => {
      res.header('content-length', '0');
      return send(body);
    };
    return handler(req, res);
  };
}

/** The `Access-Control-Allow-Origin` value for a request's Origin, or undefined (not allowed). */
export function corsOrigin(allowed: readonly string[], origin: string | undefined): string | undefined {
  if (allowed.includes('*')) return '*';
  return origin !== undefined && allowed.includes(origin) ? origin : undefined;
}

/**
 * Wraps a server so every GET route also answers HEAD (same status and headers, no body, see
 * headFrom), OPTIONS (CORS preflight) and any other method with 405 and `Allow`,
 * carries CORS headers for the allowed origins, and counts every request in the ration when given.
 */
export function withHttpEdges(server: HyperExpress.Server, opts: HttpEdgesOptions): RouteTable {
  const cors = (req: HyperExpress.Request, res: HyperExpress.Response): boolean => {
    if (opts.corsOrigins.length === 0) return false;
    const allow = corsOrigin(opts.corsOrigins, req.headers.origin);
    // A list-based answer differs per Origin: caches must key on it.
    if (!opts.corsOrigins.includes('*')) res.header('vary', 'Origin');
    if (allow === undefined) return false;
    res.header('access-control-allow-origin', allow);
    return true;
  };
  return {
    get(path, handler, routeOpts) {
      const ration = routeOpts?.probe ? opts.probeRation : opts.ration;
      const withCors: Handler = (req, res) => {
        cors(req, res);
        // After the CORS headers: a browser's page may read the 429.
        if (ration && !ration(req, res, routeOpts?.cost?.(req))) return;
        return handler(req, res);
      };
      server.get(path, withCors);
      // Without a HEAD route uWS answered 404 with a Content-Length of 2^63 and the client hung.
      server.head(path, headFrom(withCors));
      // Preflights and refused methods count as any request does: uncounted, one address had 300 answers
      // in 150 ms (an attacker-style probe), the unread answers the ration bounds piling up again.
      server.options(path, (req, res) => {
        if (ration && !ration(req, res)) return;
        if (cors(req, res)) {
          res.header('access-control-allow-methods', ALLOW);
          const asked = req.headers['access-control-request-headers'];
          if (asked) res.header('access-control-allow-headers', asked.slice(0, 500));
          res.header('access-control-max-age', String(PREFLIGHT_MAX_AGE_S));
        }
        // 200 with an empty body, not 204: uWS reports a 2^63 Content-Length for a 204 without one.
        res.header('allow', ALLOW).status(200).send('');
      });
      server.any(path, (req, res) => {
        cors(req, res);
        if (ration && !ration(req, res)) return;
        res.status(405).header('allow', ALLOW).header('cache-control', 'no-store').json({ error: `method ${echo(req.method, 20)} not allowed on ${echo(req.path, 100)}: use ${ALLOW}` });
      });
    },
  };
}
