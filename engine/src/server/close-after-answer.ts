import type HyperExpress from 'hyper-express';

/** hyper-express's `send`, as a wrapper replaces it. */
export type Send = (body?: unknown, closeConnection?: boolean) => HyperExpress.Response;

/**
 * Every HTTP answer of `server` ends its connection (uWS sends `Connection: close` and closes once
 * the answer is written). uWS answers every request pipelined on a kept-alive connection, and keeps
 * what the client does not read: one address pipelining 320,000 `GET /metrics` on 8 connections
 * without reading made an edge hold 1.4 GB (an attacker-style probe). Closed after each answer, a
 * connection costs at most the few answers of one read. Keep-alive to browsers is the proxy's to give
 * (it terminates TLS in front of the engine anyway); the engine's JSON API is rationed per address,
 * so a new connection per request costs little. A `Connection: close` header alone does not do it:
 * uWS only closes when told so by the call that ends the answer.
 */
export function closeAfterEachAnswer(server: HyperExpress.Server): void {
  server.use((_req, res, next) => {
    const send = res.send.bind(res) as Send;
    (res as unknown as { send: Send }).send = (body, closeConnection) => send(body, closeConnection ?? true);
    next();
  });
}
