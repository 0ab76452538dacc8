/**
 * The traffic listener: a node:http server whose connections start on the fast path (fast-path.ts) and are
 * handed to node:http's own connection handling when the fast path does not take them, with the proxy's answers
 * to what node:http refuses ('clientError'), per-connection ordering (node-connection.ts), and a 500 instead of a
 * crash for a bug in the request path. createProxy (lifecycle/create-proxy.ts) wires it to the route table,
 * admin listener and shutdown.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type PlainStatus, sendPlainOnSocket } from '../http/error-pages.js';
import type { ProxyLimits, ProxyTimeouts } from '../lifecycle/config.js';
import type { ProxyMetrics } from '../observe/metrics.js';
import { FastConnection, type FastPathHost, HeadMemo } from './fast-path.js';
import { NodeConnection, type NodeConnectionHost } from './node-connection.js';
import { handleRequest } from './node-path.js';
import { MAX_HEADER_LINES } from './route.js';
import { handleUpgrade, type UpgradeContext } from './upgrade.js';

export interface TrafficServerOptions {
  ctx: UpgradeContext;
  limits: ProxyLimits;
  timeouts: ProxyTimeouts;
  metrics: ProxyMetrics;
  log: (line: string) => void;
  /** Read plain requests with the fast path (default); false leaves every request to node:http. */
  fastPath: boolean;
}

export interface TrafficServer {
  server: Server;
  /** Connections on the fast path now (node:http tracks its own). */
  fastConnections: Set<FastConnection>;
}

export function createTrafficServer(options: TrafficServerOptions): TrafficServer {
  const { ctx, limits, timeouts, metrics, log } = options;
  const fastConnections = new Set<FastConnection>();
  const server = createServer(
    {
      maxHeaderSize: limits.maxHeaderSize,
      headersTimeout: timeouts.headerMs,
      requestTimeout: timeouts.requestMs,
      keepAliveTimeout: timeouts.keepAliveMs,
      // How often node:http checks the two timeouts above; its default (30 s) would let a slowloris client
      // hold a connection up to 30 s past the header timeout.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(timeouts.headerMs / 4))),
      // A missing Host is answered by inbound/node-path.ts (400 for HTTP/1.1, the unknown-host page for HTTP/1.0).
      requireHostHeader: false,
    },
    // In order, one at a time per connection (inbound/node-connection.ts).
    (req: IncomingMessage, res: ServerResponse) => NodeConnection.of(req.socket)!.request(req, res),
  );
  // node:http keeps the first maxHeadersCount lines of a head and drops the rest silently: one more than a head
  // may have shows routeRequest (inbound/route.ts) a head too long, which it refuses with 431.
  server.maxHeadersCount = MAX_HEADER_LINES + 1;
  // A bug in the request path must cost one request, not the process (and every other request in it).
  const internalError = (err: unknown, res: ServerResponse | null, socket: Duplex) => {
    log(`[proxy] internal error (this is a bug): ${(err as Error).stack ?? String(err)}`);
    if (res !== null) {
      res.writeHead(500, ['content-length', '0', 'connection', 'close']);
      res.end();
    } else {
      socket.destroy();
    }
  };
  server.on('upgrade', (req: IncomingMessage, _socket: Duplex, head: Buffer) =>
    NodeConnection.of(req.socket)!.upgrade(req, head),
  );
  /** Answers a request node:http parsed, or refused to parse, with a plain short response and closes. */
  const refuse = (socket: Socket, status: PlainStatus) => {
    if (socket.writable) metrics.unknown.record('OTHER', status, 0);
    sendPlainOnSocket(socket, status);
  };
  const nodeHost: NodeConnectionHost = {
    handleRequest: (req: IncomingMessage, res: ServerResponse) => {
      try {
        handleRequest(ctx, req, res);
      } catch (err) {
        internalError(err, res.headersSent ? null : res, req.socket);
      }
    },
    handleUpgrade: (req: IncomingMessage, socket: Socket, head: Buffer) => {
      try {
        handleUpgrade(ctx, req, socket, head);
      } catch (err) {
        internalError(err, null, socket);
      }
    },
    refuse,
  };
  const fastPath: FastPathHost = {
    ctx,
    settings: {
      maxHeaderSize: limits.maxHeaderSize,
      keepAliveTimeoutMs: timeouts.keepAliveMs,
      headerTimeoutMs: timeouts.headerMs,
      requestTimeoutMs: timeouts.requestMs,
    },
    handOver: (socket: Socket, buffered: Buffer | null, headDeadline: number) => {
      socket.pause();
      if (buffered !== null) socket.unshift(buffered);
      new NodeConnection(socket, nodeHost, headDeadline);
      httpConnection.call(server, socket);
      socket.resume();
    },
    connections: fastConnections,
    heads: new HeadMemo(),
    internalError: (err: unknown, socket: Socket) => internalError(err, null, socket),
  };
  // node:http registers one 'connection' listener (its parser setup); it becomes the fast path's hand-over.
  const httpConnections = server.listeners('connection') as ((socket: Socket) => void)[];
  if (httpConnections.length !== 1 || httpConnections[0] === undefined)
    throw new Error(
      `node:http has ${httpConnections.length} 'connection' listeners, the fast path expects one`,
    );
  const httpConnection = httpConnections[0];
  server.removeAllListeners('connection');
  const useFastPath = options.fastPath;
  // One listener for every socket: an idle keep-alive connection carries no closure of its own.
  const connectionClosed = () => {
    metrics.openConnections--;
  };
  server.on('connection', (socket: Socket) => {
    metrics.openConnections++;
    socket.on('close', connectionClosed);
    if (useFastPath) {
      new FastConnection(socket, fastPath);
    } else {
      // The first head is due one header timeout after the accept, as on the fast path.
      new NodeConnection(socket, nodeHost, Date.now() + timeouts.headerMs);
      httpConnection.call(server, socket);
    }
  });
  if (limits.maxConnections > 0) server.maxConnections = limits.maxConnections;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // Mirrors node:http's own answers (which a 'clientError' listener replaces), as a plain short response.
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status: PlainStatus =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 431
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 408
          : err.code === 'HPE_INVALID_TRANSFER_ENCODING'
            ? // A transfer coding other than chunked that node:http's parser refuses itself (`chunked, chunked`):
              // 501 as inbound/route.ts answers the ones it lets through.
              501
            : 400;
    // A parse error behind requests still being answered waits for their responses (the upstream executed
    // them); a timeout does not wait.
    if (err.code !== 'ERR_HTTP_REQUEST_TIMEOUT' && NodeConnection.of(socket)?.deferRefusal(status)) return;
    const pending = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
    if (pending?.headersSent ?? false) {
      socket.destroy();
      return;
    }
    refuse(socket as Socket, status);
  });
  return { server, fastConnections };
}
