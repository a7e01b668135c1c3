/** WebSocket close code sent after an `error` message (bad symbol or interval). */
export const CLOSE_BAD_REQUEST = 4000;
/** Close code for a client too slow to keep up: it reconnects and resyncs from a fresh snapshot. */
export const CLOSE_TRY_AGAIN = 1013;
/** Close code for a client that sends a stream of messages: the protocol has none from clients. */
export const CLOSE_POLICY = 1008;
