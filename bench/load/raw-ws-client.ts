import { randomBytes } from 'node:crypto';
import net from 'node:net';

/**
 * A receive-only WebSocket client for latency recording: the upgrade by hand, then server frames
 * parsed straight off the socket, each message stamped with the time its last chunk was read. `ws`
 * costs tens of µs per message in JavaScript; with a hundred clients in one process a burst of
 * messages waits in that process's queue, and the wait would be counted as the server's latency.
 * Handles what a server sends a client: unmasked text/binary frames (7-bit, 16-bit or 64-bit length),
 * continuation frames and pings (answered with a masked pong); a close frame ends it.
 */
export class RawWsClient {
  private readonly socket: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private upgraded = false;
  private parts: Buffer[] = [];
  closed = false;

  constructor(url: string, onMessage: (data: Buffer, at: number) => void, stamp: () => number) {
    const u = new URL(url);
    this.socket = net.connect(Number(u.port || 80), u.hostname);
    this.socket.setNoDelay(true);
    this.socket.on('connect', () => {
      const key = randomBytes(16).toString('base64');
      this.socket.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    this.socket.on('data', (chunk: Buffer) => {
      const at = stamp();
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
      if (!this.upgraded) {
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!/^HTTP\/1\.1 101/.test(this.buf.subarray(0, 12).toString())) return this.close();
        this.upgraded = true;
        this.buf = this.buf.subarray(end + 4);
      }
      this.frames(onMessage, at);
    });
    this.socket.on('error', () => this.close());
    this.socket.on('close', () => (this.closed = true));
  }

  get open(): boolean {
    return this.upgraded && !this.closed;
  }

  private frames(onMessage: (data: Buffer, at: number) => void, at: number): void {
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const fin = (b[0]! & 0x80) !== 0;
      const opcode = b[0]! & 0x0f;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      if (b.length < off + len) return;
      const payload = b.subarray(off, off + len);
      this.buf = b.subarray(off + len);
      if (opcode === 0x8) return this.close();
      if (opcode === 0x9) this.pong(payload);
      else if (opcode <= 0x2) {
        this.parts.push(payload);
        if (fin) {
          const data = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
          this.parts = [];
          onMessage(data, at);
        }
      }
    }
  }

  private pong(payload: Buffer): void {
    const mask = randomBytes(4);
    const masked = Buffer.from(payload);
    for (let i = 0; i < masked.length; i++) masked[i] = masked[i]! ^ mask[i % 4]!;
    this.socket.write(Buffer.concat([Buffer.from([0x8a, 0x80 | masked.length]), mask, masked]));
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }
}
