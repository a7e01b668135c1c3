import { TokenBucket } from '../domain/token-bucket.ts';
import { errorMessage } from '../domain/wire.ts';
import { CLOSE_POLICY } from './ws-close-codes.ts';

/**
 * Messages a client may send (a library's keepalive, ignored): a burst of 10, then 1 a second. Beyond,
 * the socket is closed: each one costs the engine a call into JavaScript (a probe's socket sent
 * 407,400 in 8 s and spent 4.3 s of an edge's CPU, never closed).
 */
const INBOUND_PER_SECOND = 1;
const INBOUND_BURST = 10;

/**
 * One socket's ration of frames from its client: the returned function is called on each frame it
 * sends (messages, pings and pongs alike); past the ration the socket is told why and closed with
 * 1008, once. `closed`: whether the socket closed already (nothing is sent then); `floodClosed` counts it.
 */
export function inboundRation(
  ws: { send(message: string): unknown; close(code: number, reason: string): void },
  closed: () => boolean,
  floodClosed: () => void,
): () => void {
  const inbound = new TokenBucket(INBOUND_PER_SECOND, INBOUND_BURST);
  let flooded = false;
  return () => {
    if (flooded || closed() || inbound.take()) return;
    flooded = true;
    floodClosed();
    ws.send(errorMessage('clients send no messages on this socket: closed after a stream of them (pings and pongs count)', 'client_messages'));
    ws.close(CLOSE_POLICY, 'clients send no messages');
  };
}
