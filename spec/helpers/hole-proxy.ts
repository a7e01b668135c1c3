import net from 'node:net';

/**
 * A TCP proxy on loopback to `targetPort` that can swallow everything both ways without closing
 * (`hole`): a cut that sends no reset, as a dead route makes it. `open` forwards again (what was
 * swallowed is lost). `hole({ keep: true })` holds it instead and delivers it at `open`: a peer that
 * hangs for a while (a Redis in `DEBUG SLEEP`, a process stopped). `cut` closes every connection and
 * refuses new ones until `open`. `replies`, while set, rewrites what the target sends (chunk by chunk:
 * a rewrite across two chunks is missed; a small reply on loopback comes in one). `holeExisting`
 * swallows what the connections open now carry, for good, while new ones pass: a path that went
 * silent (a NAT's or firewall's flow dropped) that a reconnect gets around.
 */
export class HoleProxy {
  replies: ((chunk: Buffer) => Buffer) | undefined;
  private holed = false;
  private refusing = false;
  private kept: Array<() => void> | undefined;
  private readonly silenced = new Set<net.Socket>();
  private readonly sockets = new Set<net.Socket>();
  private readonly server: net.Server;

  private constructor(
    private readonly targetPort: number,
    private readonly targetHost: string,
  ) {
    this.server = net.createServer((client) => (this.refusing ? client.destroy() : this.pipe(client, net.connect(this.targetPort, this.targetHost))));
  }

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<HoleProxy> {
    const proxy = new HoleProxy(targetPort, targetHost);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  hole(o: { keep?: boolean } = {}): void {
    this.holed = true;
    this.kept = o.keep ? [] : undefined;
  }

  holeExisting(): void {
    for (const s of this.sockets) this.silenced.add(s);
  }

  cut(): void {
    this.refusing = true;
    for (const s of this.sockets) s.destroy();
  }

  open(): void {
    this.holed = false;
    this.refusing = false;
    for (const deliver of this.kept?.splice(0) ?? []) deliver();
    this.kept = undefined;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private pipe(a: net.Socket, b: net.Socket): void {
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      this.sockets.add(from);
      from.on('data', (data: Buffer) => {
        const chunk = from === b && this.replies ? this.replies(data) : data;
        if (this.silenced.has(from)) return;
        if (!this.holed) to.write(chunk);
        else this.kept?.push(() => to.write(chunk));
      });
      from.on('error', () => to.destroy());
      from.on('close', () => {
        this.sockets.delete(from);
        this.silenced.delete(from);
        to.destroy();
      });
    }
  }
}
