import type HyperExpress from 'hyper-express';
import type { Logger } from '../log.ts';

export interface RouteErrorsOptions {
  log: Logger;
  /** Counts each error answered. */
  counted?: () => void;
  /** Repeats are summed up in one line at most this often. Default 10 s. */
  summaryEveryMs?: number;
}

/**
 * hyper-express's error handler for anything a route throws: the client gets a JSON 500 (the default
 * was a text 500), and the log gets each distinct error once with its stack, then one line per
 * `summaryEveryMs` counting the repeats. A request flood hitting a bug must not write a stack trace
 * per request (10 s of one wrote 115 MB of log).
 */
export function routeErrorHandler(opts: RouteErrorsOptions): (req: HyperExpress.Request, res: HyperExpress.Response, error: Error) => void {
  const { log, counted, summaryEveryMs = 10_000 } = opts;
  /** Distinct messages already logged with their stack (bounded). */
  const seen = new Set<string>();
  let repeats = 0;
  let summary: NodeJS.Timeout | undefined;
  const summarize = () => {
    summary = undefined;
    log.error(`${repeats} more failed requests, with errors logged before, in the last ${Math.round(summaryEveryMs / 1000)} s`);
    repeats = 0;
  };
  return (req, res, error) => {
    counted?.();
    const message = String((error as Error | undefined)?.message ?? error).slice(0, 300);
    if (!seen.has(message)) {
      if (seen.size >= 100) seen.clear();
      seen.add(message);
      log.error('request failed', { method: req.method, path: req.path.slice(0, 100), err: message, stack: error?.stack?.split('\n').slice(1, 5).map((l) => l.trim()).join(' | ') });
    } else {
      repeats++;
      summary ??= setTimeout(summarize, summaryEveryMs).unref();
    }
    if (res.closed) return;
    res.status(500).header('cache-control', 'no-store').json({ error: `internal error: ${message}` });
  };
}
