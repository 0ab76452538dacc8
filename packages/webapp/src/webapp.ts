import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface WebappOptions {
  /** The virtual host name to answer with. */
  name: string;
  /** TCP port; 0 picks a free one. Default 3000. */
  port?: number;
  /** Bind address. Default 0.0.0.0. */
  host?: string;
  /** How long close() lets in-flight requests finish before it cuts connections, in ms. Default 10 000. */
  closeTimeoutMs?: number;
}

export interface Webapp {
  readonly name: string;
  readonly server: Server;
  /** Starts listening; resolves with the bound address (the real port when 0 was asked for). */
  listen(): Promise<{ host: string; port: number }>;
  /** Stops accepting, lets in-flight requests finish (up to closeTimeoutMs), then resolves. */
  close(): Promise<void>;
}

/** Formats an address as `host:port`, bracketing IPv6 literals. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function createWebapp(options: WebappOptions): Webapp {
  const { name } = options;
  if (typeof name !== 'string' || name.length === 0) {
    throw new TypeError('createWebapp: options.name must be a non-empty string');
  }
  const port = options.port ?? 3000;
  const host = options.host ?? '0.0.0.0';
  const closeTimeoutMs = options.closeTimeoutMs ?? 10_000;

  // Everything a response carries is computed once here, not per request: the body bytes and a flat header list,
  // which writeHead takes without building an intermediate object.
  const body = Buffer.from(`${name}\n`);
  const headers = ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(body.length)];

  // hot path — change with care: one writeHead and one end per request, nothing allocated.
  function answer(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  // Request bodies are never read: node:http discards an unread body once the response is finished, which keeps
  // the connection usable for the next request without a second 'request' listener on the hot path.
  const server = createServer({ keepAliveTimeout: 65_000 }, answer);
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_err, socket: Socket) => {
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });

  let closing: Promise<void> | undefined;

  return {
    name,
    server,
    listen() {
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          const address = server.address() as AddressInfo;
          resolve({ host: address.address, port: address.port });
        });
      });
    },
    close() {
      if (closing) return closing;
      closing = new Promise<void>((resolve) => {
        if (!server.listening) {
          resolve();
          return;
        }
        const deadline = setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, closeTimeoutMs);
        // A keep-alive connection that finishes its request becomes idle and would then hold close() open until
        // its timeout; sweeping idle connections while draining ends each one as soon as its last answer is out.
        const sweep = setInterval(() => server.closeIdleConnections(), 25);
        server.close(() => {
          clearTimeout(deadline);
          clearInterval(sweep);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
