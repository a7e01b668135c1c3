import HyperExpress from 'hyper-express';
import uWS from 'uWebSockets.js';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../engine/src/log.ts';
import { routeErrorHandler } from '../../../engine/src/server/route-errors.ts';
import { withHttpEdges } from '../../../engine/src/server/http-edges.ts';
import { registerSeriesRoutes } from '../../../engine/src/server/series-routes.ts';
import { rsi } from '../../../engine/src/operators/index.ts';
import { defineSeries } from '../../../engine/src/series/define-series.ts';
import type { SeriesService } from '../../../engine/src/series/series-registry.ts';
import { parseSeries, requestSeries } from '../../../engine/src/series/series-requests.ts';

/**
 * A bug inside a `/series/…` range, over a real server: it was answered 500 by the route itself and
 * counted nowhere, though engine_http_errors_total says any increase is a bug. Now it goes to the
 * server's route error handler: counted, logged once with where it was thrown.
 */
describe('an unexpected failure of a derived-series range', () => {
  const lines: string[] = [];
  let server: HyperExpress.Server;
  let url: string;
  let counted = 0;
  beforeAll(async () => {
    const log = createLogger('info', 'test', (l) => lines.push(l));
    server = new HyperExpress.Server();
    server.set_error_handler(routeErrorHandler({ log, counted: () => counted++ }));
    const defs = new Map([['rsi', defineSeries({ name: 'rsi', pane: 'oscillator', params: { period: 14 }, operator: ({ period }) => rsi({ period }) })]]);
    const request = (name: string, overrides: Record<string, string>, interval: string) => requestSeries(defs, name, overrides, interval);
    // The engine's own parsing, the range broken as a bug would break it.
    const series = {
      parse: (spec: string | undefined, interval: string) => parseSeries(spec, interval, request),
      request,
      list: () => [],
      range: () => Promise.reject(new TypeError('cannot read bars of undefined')),
    } as unknown as SeriesService;
    registerSeriesRoutes(withHttpEdges(server, { corsOrigins: [] }), { catalog: { symbols: () => ['BTCUSDT'], intervals: () => ['1m'] }, series, badRequest: () => undefined });
    const socket = await server.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${uWS.us_socket_local_port(socket)}`;
  });
  afterAll(() => server?.close());

  it('is a JSON 500 counted in engine_http_errors_total and logged once with its place', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await request(`${url}/series/rsi/BTCUSDT/1m?limit=5`);
      expect(res.statusCode).toBe(500);
      expect(await res.body.json()).toEqual({ error: 'internal error: cannot read bars of undefined' });
    }
    expect(counted).toBe(3);
    expect(lines.filter((l) => /request failed/.test(l))).toHaveLength(1);
    // A bad request is still a 400 of the route's own, not a failure.
    const bad = await request(`${url}/series/nope/BTCUSDT/1m`);
    expect(bad.statusCode).toBe(400);
    expect(await bad.body.json()).toMatchObject({ code: 'bad_series' });
    expect(counted).toBe(3);
  });
});
