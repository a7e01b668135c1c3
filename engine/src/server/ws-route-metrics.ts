import type { Metrics } from '../metrics.ts';
import { CONNECTS_PER_SECOND } from './ws-upgrade.ts';

/** What the WebSocket route counts, declared in the order /metrics lists them. */
export function wsRouteMetrics(metrics: Metrics) {
  return {
    clients: metrics.gauge('engine_clients_connected', 'WebSocket clients connected'),
    floodClosed: metrics.counter('engine_ws_message_flood_closed_total', 'Clients closed with 1008 for sending a stream of messages (clients send none)'),
    unanswered: metrics.counter('engine_ws_unanswered_closed_total', 'Clients closed with 1013 for answering no ping for PING_TIMEOUT_MS (not reading their socket)'),
    slowDropped: metrics.counter('engine_ws_slow_clients_dropped_total', 'Clients closed with 1013 because their send buffer passed the backpressure limit'),
    stuckClosed: metrics.counter('engine_ws_stuck_closed_total', 'Clients closed with 1013 because their send buffer did not go down for STUCK_MS (not reading)'),
    budgetClosed: metrics.counter('engine_ws_budget_closed_total', 'Clients closed with 1013, the largest not draining first, while all send buffers together passed MAX_BUFFERED_TOTAL_BYTES, or those of their address its share'),
    budgetRefused: metrics.counter('engine_ws_budget_refused_total', 'First messages refused (error server_busy, close 4000) because they would pass MAX_BUFFERED_TOTAL_BYTES or their address\'s share of it'),
    buffered: metrics.gauge('engine_ws_buffered_bytes', 'Bytes in all client send buffers at the last sweep (250 ms)'),
    followed: metrics.gauge('engine_series_topics_followed', 'Derived series topics with at least one client (only these get previews and messages)'),
    held: metrics.gauge('engine_ws_address_slots_held', 'Connection slots still counted in their address\'s MAX_CONNECTIONS_PER_ADDRESS after their socket was closed for not reading (NOT_READING_HOLD_MS)'),
    refusedBusy: metrics.counter('engine_ws_address_refused_total', 'WebSocket connections refused because their address holds MAX_CONNECTIONS_PER_ADDRESS already'),
    refusedRate: metrics.counter('engine_ws_connect_rate_refused_total', `WebSocket upgrades refused with 429 because their address opened more than ${CONNECTS_PER_SECOND} a second after its burst`),
    refusedNode: {
      server_full: metrics.counter('engine_ws_server_full_refused_total', 'WebSocket connections refused (503 to the upgrade, or error server_full and close 1013) because this node holds MAX_CLIENTS already'),
      server_busy: metrics.counter('engine_ws_connects_refused_total', 'WebSocket upgrades refused with 503 server_busy because this node took MAX_CONNECTS_PER_SECOND new connections a second, every address together, after its burst'),
    },
    refusedOrigins: metrics.counter('engine_ws_origin_refused_total', 'WebSocket upgrades refused with 403 because their Origin is not in ALLOWED_ORIGINS'),
  };
}

export type WsRouteMetrics = ReturnType<typeof wsRouteMetrics>;
