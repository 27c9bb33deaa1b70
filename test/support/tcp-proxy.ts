import { createServer, connect, type Server, type Socket } from 'node:net';

export type ProxyMode = 'forward' | 'blackhole' | 'reset';

/**
 * A TCP proxy a test puts between a client and a shared service (Redis, ClickHouse), to simulate an
 * outage without stopping the service for everyone else: `blackhole` keeps every connection open but
 * drops every byte both ways (calls time out), `reset` closes every connection and resets new ones at
 * once (calls fail fast, as when the server goes away); `forward` passes bytes again.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private mode: ProxyMode = 'forward';
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<number> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  setMode(mode: ProxyMode): void {
    this.mode = mode;
    if (mode === 'reset') for (const s of this.sockets) s.destroy();
  }

  private accept(client: Socket): void {
    if (this.mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    this.track(client);
    const upstream = connect(this.targetPort, this.targetHost);
    this.track(upstream);
    // Bytes pass only in `forward`; in `blackhole` they are dropped and the connection stays up.
    client.on('data', (d: Buffer) => {
      if (this.mode === 'forward') upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (this.mode === 'forward') client.write(d);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
