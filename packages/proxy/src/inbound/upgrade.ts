/**
 * WebSocket and other `Upgrade` requests (node:http's 'upgrade' event).
 *
 * This is the "equivalent" the issue allows instead of http-proxy-3's `ws` pass, written for what that pass does
 * not do (http-proxy-3 1.23.3, passes/ws-incoming.js): it forwards any Upgrade protocol (http-proxy-3 destroys
 * every request whose Upgrade is not `websocket`), destroys both sockets when either side closes or errors
 * (http-proxy-3 only `end()`s the other side, which leaves a half-open socket when the peer vanished), applies a
 * handshake timeout (http-proxy-3 has none for ws), and sets X-Forwarded-* with the same trusted-proxy rules as
 * plain requests (http-proxy-3's xfwd appends whatever the client sent). Routing, balancing, health and error
 * pages are the plain path's (host.ts, balance.ts, error-pages.ts).
 *
 * One fresh upstream connection per upgrade (an upgraded socket can never go back to a keep-alive pool), made
 * with node:http so that a non-101 answer arrives as an ordinary response, which is relayed to the client.
 */
import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { NoHealthyUpstreamError, UpgradeTimeoutError, upstreamSocketFailure } from '../errors.js';
import {
  type ErrorStatus,
  endSocket,
  isConnectError,
  sendErrorPageOnSocket,
  sendRedirectOnSocket,
} from '../http/error-pages.js';
import {
  addForwardedHeaders,
  peerOf,
  readRequestHead,
  responseHeaders,
  trustedRequestId,
} from '../http/headers.js';
import type { HostStats } from '../observe/metrics.js';
import { type RecordedRequest, recordRequest } from '../observe/record.js';
import { nextRequestId } from '../observe/request-id.js';
import { failureStatus } from '../upstream/attempt.js';
import type { Upstream } from '../upstream/pool.js';
import type { ForwardContext } from './node-path.js';
import { ACME_ANSWER, RoutedRequest, redirectLocation, routeRequest, versionOf } from './route.js';

export interface UpgradeContext extends ForwardContext {
  /** How long the upstream may take to answer the upgrade request, ms (then 504). */
  readonly upgradeTimeoutMs: number;
  /** Client sockets of upgrades in progress or established: closed at the end of a graceful shutdown. */
  readonly upgradeSockets: Set<Duplex>;
}

export function handleUpgrade(ctx: UpgradeContext, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const startedAt = performance.now();
  const table = ctx.table;
  const peer = peerOf(req.socket, ctx.trust);
  const method = req.method ?? 'GET';
  ctx.upgradeSockets.add(socket);
  socket.once('close', () => ctx.upgradeSockets.delete(socket));
  // Until the sockets are joined, a client error just ends this upgrade.
  socket.on('error', () => socket.destroy());

  const requestHead = new UpgradeRequest(req, peer.address, startedAt);
  readRequestHead(req, requestHead, ctx.underscoresInHeaders);
  const requestId = trustedRequestId(requestHead, peer) ?? nextRequestId();
  requestHead.requestId = requestId;
  let recorded = false;
  const record = (stats: HostStats, status: number, upstream: Upstream | null) => {
    if (recorded) return;
    recorded = true;
    requestHead.upstream = upstream;
    // The handshake only: the upstream's time is the whole of it, the tunnel's bytes are not counted.
    const seconds = (performance.now() - startedAt) / 1000;
    if (upstream !== null) requestHead.upstreamSeconds = seconds;
    upstream?.stats.record(method, status, seconds);
    recordRequest(stats, ctx.accessLog, requestHead, status);
  };
  const reject = (stats: HostStats, status: ErrorStatus, host: string, upstream: Upstream | null = null) => {
    sendErrorPageOnSocket(socket, status, host, table.pages, method === 'HEAD', requestId);
    record(stats, status, upstream);
  };

  const status = routeRequest(
    table,
    requestHead,
    method,
    req.url ?? '/',
    versionOf(req),
    req.rawHeaders.length >> 1,
    peer,
  );
  if (status === 308) {
    sendRedirectOnSocket(socket, redirectLocation(requestHead, ctx.httpsPort), requestId);
    record(requestHead.vhost!.stats, 308, null);
    return;
  }
  if (status !== 0) {
    // An upgrade is no answer to an HTTP-01 challenge.
    reject(ctx.metrics.unknown, (status === ACME_ANSWER ? 404 : status) as ErrorStatus, requestHead.host);
    return;
  }
  const vhost = requestHead.vhost!;
  const group = requestHead.group!;
  const url = requestHead.path;
  const upstream = group.pick(peer.address, null);
  if (upstream === null) {
    const err = new NoHealthyUpstreamError(group.label);
    reject(vhost.stats, failureStatus(err, vhost.key, 'upgrade', url, null, ctx.logError), requestHead.host);
    return;
  }

  addForwardedHeaders(requestHead, peer, requestHead.host, peer.proto, requestId);
  // Connection and Upgrade are hop-by-hop, but for an upgrade they are the request: re-add them for this hop.
  requestHead.headers.push('connection', 'upgrade', 'upgrade', requestHead.upgrade ?? 'websocket');

  upstream.active++;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    upstream.active--;
  };

  let answered = false;
  const target = upstream.connectTarget;
  const proxyReq: ClientRequest = (target.secure ? httpsRequest : httpRequest)({
    host: target.host,
    port: target.port,
    method,
    path: url,
    // A flat array is sent exactly as given: the client's Host stays, node adds nothing.
    headers: requestHead.headers,
    agent: false,
  });

  const timer = setTimeout(
    () => proxyReq.destroy(new UpgradeTimeoutError(ctx.upgradeTimeoutMs)),
    ctx.upgradeTimeoutMs,
  );
  timer.unref();

  const onClientGone = () => {
    if (!answered) proxyReq.destroy();
  };
  socket.once('close', onClientGone);

  proxyReq.on('error', (cause) => {
    const err = upstreamSocketFailure(cause);
    clearTimeout(timer);
    release();
    if (answered) return;
    answered = true;
    if (socket.destroyed) return;
    if (isConnectError(err)) upstream.connectFailed();
    reject(
      vhost.stats,
      failureStatus(err, vhost.key, 'upgrade', url, upstream, ctx.logError),
      requestHead.host,
      upstream,
    );
  });

  proxyReq.on('response', (proxyRes: IncomingMessage) => {
    // The upstream declined the upgrade: relay its answer as is, then close.
    clearTimeout(timer);
    answered = true;
    upstream.answered();
    const headers = responseHeaders(proxyRes.rawHeaders);
    let lines = `HTTP/1.1 ${proxyRes.statusCode} ${proxyRes.statusMessage ?? ''}\r\n`;
    for (let i = 0; i < headers.length; i += 2) lines += `${headers[i]}: ${headers[i + 1]}\r\n`;
    // Without a Content-Length the body is delimited by closing the connection, which we do anyway.
    socket.write(`${lines}connection: close\r\n\r\n`);
    record(vhost.stats, proxyRes.statusCode ?? 502, upstream);
    proxyRes.on('data', (chunk: Buffer) => {
      if (!socket.write(chunk)) {
        proxyRes.pause();
        socket.once('drain', () => proxyRes.resume());
      }
    });
    proxyRes.on('end', () => {
      release();
      endSocket(socket);
    });
    proxyRes.on('error', () => {
      release();
      socket.destroy();
    });
    socket.once('close', () => proxyRes.destroy());
  });

  proxyReq.on('upgrade', (proxyRes: IncomingMessage, proxySocket: Socket, proxyHead: Buffer) => {
    clearTimeout(timer);
    answered = true;
    upstream.answered();
    socket.off('close', onClientGone);
    record(vhost.stats, 101, upstream);
    join(socket, proxySocket, release);
    if (socket.destroyed) return;
    let lines = `HTTP/1.1 101 ${proxyRes.statusMessage || 'Switching Protocols'}\r\n`;
    const raw = proxyRes.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) lines += `${raw[i]}: ${raw[i + 1]}\r\n`;
    socket.write(`${lines}\r\n`);
    if (proxyHead.length > 0) socket.write(proxyHead);
    if (head.length > 0) proxySocket.write(head);
    proxySocket.pipe(socket);
    socket.pipe(proxySocket);
  });

  proxyReq.end();
}

/**
 * Ties the lifetimes of the two sockets of an established upgrade: an error or a close on either destroys both;
 * an end (FIN) on either ends both once written data is flushed, with the 5 s cap of endSocket.
 */
function join(client: Duplex, upstream: Socket, release: () => void): void {
  let done = false;
  const destroyBoth = () => {
    client.destroy();
    upstream.destroy();
    if (!done) {
      done = true;
      release();
    }
  };
  const endBoth = () => {
    endSocket(client);
    endSocket(upstream);
  };
  for (const s of [client, upstream]) {
    s.on('error', destroyBoth);
    s.once('close', destroyBoth);
    s.once('end', endBoth);
  }
  (client as Socket).setNoDelay?.(true);
  upstream.setNoDelay(true);
}

/** An upgrade request's head, where it goes, and what its access-log line says (observe/record.ts). */
class UpgradeRequest extends RoutedRequest implements RecordedRequest {
  readonly req: IncomingMessage;
  readonly clientAddress: string;
  readonly startedAt: number;
  requestId = '';
  upstream: Upstream | null = null;
  upstreamSeconds = -1;
  readonly bytesIn = 0;
  readonly bytesOut = 0;

  constructor(req: IncomingMessage, clientAddress: string, startedAt: number) {
    super();
    this.req = req;
    this.clientAddress = clientAddress;
    this.startedAt = startedAt;
  }

  get method(): string {
    return this.req.method ?? 'GET';
  }
  get url(): string {
    return this.req.url ?? '/';
  }
  get httpVersion(): string {
    return this.req.httpVersion;
  }
  get hostHeader(): string {
    return this.host;
  }
  get vhostKey(): string | undefined {
    return this.vhost?.key;
  }
}
