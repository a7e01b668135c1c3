import type HyperExpress from 'hyper-express';
import { echo } from '../domain/echo.ts';
import type { SeriesService } from '../series/series-registry.ts';
import { ParseMemo } from '../series/parse-memo.ts';
import { AddressRateLimit } from './address-rate-limit.ts';
import type { AddressSlots } from './address-slots.ts';
import { clientAddress } from './client-address.ts';
import { connectCost, SERIES_PER_CONNECT_TOKEN } from './connect-cost.ts';
import type { NodeAdmission, NodeRefusal } from './node-admission.ts';
import { type Catalog, singleQuery } from './request-params.ts';
import { wsRequest, type WsContext } from './ws-request.ts';

/** New WebSocket connections per second one address may open after its burst (with MAX_CONNECTIONS_PER_ADDRESS on). */
export const CONNECTS_PER_SECOND = 10;

export interface WsUpgradeConfig {
  /** Browser origins allowed to connect (empty = any): others are refused with 403 before the upgrade. */
  allowedOrigins: readonly string[];
  /** Proxies whose X-Forwarded-For names the client (TRUST_PROXY; '*' = any); absent = the peer is the client. */
  trustProxy?: readonly string[];
  /** MAX_CONNECTIONS_PER_ADDRESS (0 or absent = no limit): with it on, new connections are rationed per address too. */
  maxConnectionsPerAddress?: number;
  admission: NodeAdmission;
  slots: AddressSlots;
  catalog: Catalog;
  series: SeriesService;
  /** Counters of the refusals (ws-route-metrics.ts). */
  refusedOrigins(): void;
  refusedNode: Record<NodeRefusal['code'], () => void>;
  refusedBusy(): void;
  refusedRate(): void;
}

/**
 * The `/ws/:symbol` upgrade: what can be refused before a socket exists is refused here, where it costs
 * least (origin, the node's bounds, the address's cap and its ration of new connections), each with its
 * HTTP status; the rest is read into the socket's context (ws-request.ts).
 */
export function wsUpgrade(config: WsUpgradeConfig): (req: HyperExpress.Request, res: HyperExpress.Response) => void {
  const { allowedOrigins, admission, slots, catalog, series } = config;
  // New connections per address, with the per-address cap on: a client that connects and closes in a
  // loop is not bounded by the cap (it holds one socket at a time), and each connect costs a first
  // message (an attacker-style probe measured 22 ms of an edge's CPU for a resume with 16 series).
  // The burst lets every socket the cap allows come back at once (an office behind one NAT after
  // losing its edge).
  const connects = config.maxConnectionsPerAddress ? new AddressRateLimit({ perMinute: CONNECTS_PER_SECOND * 60, burst: Math.max(config.maxConnectionsPerAddress, 64) }) : undefined;
  const parsedSeries = new ParseMemo((spec: string | undefined, interval: string) => series.parse(spec, interval));
  const parse = (spec: string | undefined, interval: string) => parsedSeries.get(spec, interval);
  return (req, res) => {
    const origin = req.headers.origin;
    // Only browsers send Origin (and cannot forge it); other clients are not what this guards against.
    if (allowedOrigins.length && origin !== undefined && !allowedOrigins.includes('*') && !allowedOrigins.includes(origin)) {
      config.refusedOrigins();
      res.status(403).header('cache-control', 'no-store').json({ error: `origin ${echo(origin, 100)} is not allowed (ALLOWED_ORIGINS)` });
      return;
    }
    // The node's own bounds, before anything is made for the request (node-admission.ts).
    const refused = admission.admit();
    if (refused) {
      config.refusedNode[refused.code]();
      res.status(503).header('retry-after', String(refused.retryAfterSec)).header('cache-control', 'no-store').json({ error: refused.error, code: refused.code });
      return;
    }
    const address = clientAddress(req.ip, req.headers['x-forwarded-for'], config.trustProxy ?? []);
    // Refused before the upgrade, where it costs least (the socket's own check closes races: address-slots.ts).
    if (!slots.fits(address)) {
      config.refusedBusy();
      res.status(429).header('retry-after', '10').header('cache-control', 'no-store').json({ error: slots.tooMany(address), code: 'too_many_connections' });
      return;
    }
    const query = singleQuery(req.query_parameters, req.path_query);
    const q = query.ok ? query.value : {};
    // A connect asking for derived series costs more of the ration (connect-cost.ts).
    const wait = connects?.take(address, connectCost(q.series)) ?? 0;
    if (wait > 0) {
      config.refusedRate();
      res.status(429).header('retry-after', String(wait)).header('cache-control', 'no-store').json({ error: `too many new connections from ${echo(address, 64)} (${CONNECTS_PER_SECOND} a second after a burst, with MAX_CONNECTIONS_PER_ADDRESS on; a connect with derived series counts 1 more per ${SERIES_PER_CONNECT_TOKEN} series); retry in ${wait} s`, code: 'rate_limited' });
      return;
    }
    // Upgrade even a bad request: the protocol answers it with an `error` message and close 4000.
    const context: WsContext = wsRequest(catalog, parse, req.path_parameters.symbol ?? '', query);
    res.upgrade({ ...context, address });
  };
}
