import HyperExpress from 'hyper-express';
import uWS from 'uWebSockets.js';
import { closeAfterEachAnswer } from './close-after-answer.ts';
import { sendJson } from './send-json.ts';

export interface WaitingServer {
  /** The port it listens on (the one given, or the free one chosen for port 0). */
  readonly port: number;
  /** Frees the port for the node's real server. */
  close(): void;
}

/**
 * What a node answers on its port before it can serve (an edge waiting for Redis, then loading its
 * series): without it nothing listens, and an orchestrator sees a dead process where there is a
 * starting one. `/livez` says alive; `/health` and `/readyz` say 503 with what is missing; any other
 * request, WebSocket upgrades included, gets a 503 JSON error, so clients retry as after a restart.
 */
export async function startWaitingServer(o: { host: string; port: number; health(): Record<string, unknown> }): Promise<WaitingServer> {
  const server = new HyperExpress.Server({ max_body_length: 1024, auto_close: false });
  // Every answer ends its connection: a kept-alive one would reach this server after the real one listens.
  closeAfterEachAnswer(server);
  const reply = sendJson;
  const readiness = (_req: HyperExpress.Request, res: HyperExpress.Response) => reply(res, 503, { status: 'starting', ...o.health() });
  server.get('/health', readiness);
  server.get('/readyz', readiness);
  server.get('/livez', (_req, res) => reply(res, 200, { status: 'alive' }));
  server.any('/*', (_req, res) => reply(res, 503, { error: 'starting', message: 'this node is starting; try again shortly' }));
  const listenSocket = await server.listen(o.port, o.host);
  let open = true;
  return {
    port: uWS.us_socket_local_port(listenSocket),
    close: () => {
      if (!open) return;
      open = false;
      server.close(listenSocket);
    },
  };
}
