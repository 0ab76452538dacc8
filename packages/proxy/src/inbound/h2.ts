/**
 * HTTP/2 on node:http2: the path with `fastPath: false` (the differential tests' reference; h2-fast.ts is the
 * default one, on the proxy's own frame code, and shares readH2Head below).
 *
 * A TLSSocket that negotiated ALPN `h2` becomes an HTTP/2 session (node:http2), and
 * each of its streams is one request through the same routing decision (route.ts), the same upstream attempt
 * (upstream/attempt.ts), the same error pages, access log, request ids and metrics as the HTTP/1.1 paths, to the
 * same HTTP/1.1 upstream pools. Only the reading of the request and the writing of the response differ:
 *
 * - Request: the pseudo-headers become the HTTP/1.1 request line (`:method`, `:path`) and Host (`:authority`,
 *   first, where an HTTP/1.1 client puts it; a Host field that names another authority is a 400, RFC 9113
 *   §8.3.1). Cookie fields the client split are joined with `; ` (RFC 9113 §8.2.3). The regular fields then go
 *   through `readRawHeaders` like an HTTP/1.1 head (hop-by-hop, `te`, X-Forwarded-*, underscores). A body
 *   without content-length (the usual case in HTTP/2) goes upstream chunked; a stream whose HEADERS ended it has
 *   no body.
 * - Response: the upstream's head (hop-by-hop removed by upstream/client.ts) becomes the HEADERS of the stream,
 *   without the fields HTTP/2 forbids (RFC 9113 §8.2.2: Connection, Keep-Alive, Proxy-Connection,
 *   Transfer-Encoding, Upgrade; filtered here again, as node:http2 throws on them). The body is streamed with
 *   backpressure both ways: a stream whose flow-control window is full pauses the upstream socket, and a paused
 *   request body withholds WINDOW_UPDATEs from the client.
 * - A client's RST_STREAM aborts the upstream request (its pool socket is closed, not returned half-read); an
 *   upstream failure after the response started resets the stream (INTERNAL_ERROR), the HTTP/2 form of cutting
 *   the connection, and never hurts the session's other streams.
 * - CONNECT is refused with 405 (this proxy tunnels nothing); extended CONNECT (RFC 8441) is never offered
 *   (SETTINGS_ENABLE_CONNECT_PROTOCOL stays 0), so nghttp2 refuses `:protocol` itself.
 * - Limits: SETTINGS_MAX_CONCURRENT_STREAMS (further streams are refused with REFUSED_STREAM by nghttp2, which
 *   the client may retry), the initial stream window, the session's memory (past it new streams are refused
 *   with ENHANCE_YOUR_CALM) and the header list size, all from the h2 settings (lifecycle/config.ts).
 *
 * hot path — change with care: per stream one object (`H2Forward`: head, attempt state and record at once), one
 * headers array for the upstream and one header object for the response; the session's peer is computed once.
 */
import {
  constants,
  createServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

import { type ErrorStatus, sendErrorPageOnStream } from '../http/error-pages.js';
import {
  addForwardedHeaders,
  CONNECTION,
  HOP,
  headerKind,
  type Peer,
  peerOf,
  readRawHeaders,
  TRANSFER_ENCODING,
  trustedRequestId,
  UPGRADE,
} from '../http/headers.js';
import type { H2Settings } from '../lifecycle/config.js';
import { nextRequestId } from '../observe/request-id.js';
import type { RouteTable } from '../route-table/build.js';
import { settleAttempt, startAttempt } from '../upstream/attempt.js';
import { RequestHeadText } from '../upstream/client.js';
import { ForwardedRequest } from './forwarded-request.js';
import type { ForwardContext } from './node-path.js';
import { StreamBody } from './request-body.js';
import { ACME_ANSWER, MAX_HEADER_LINES, type RoutedRequest, routeRequest } from './route.js';

export interface H2Handler {
  /** Runs HTTP/2 on a TLSSocket that negotiated ALPN `h2` (the TLS listener's `TlsHandlers.h2`). */
  handle(socket: TLSSocket): void;
  /** Graceful shutdown: GOAWAY on every session (open streams finish); `destroy` cuts them. */
  close(): void;
  destroy(): void;
  /** Sessions open now. */
  readonly sessions: number;
}

const { HTTP2_HEADER_STATUS, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR, NGHTTP2_FLAG_END_STREAM } = constants;

const kPeer = Symbol('nodix.h2.peer');
type PeeredSession = ServerHttp2Session & { [kPeer]: Peer };

/**
 * The HTTP/2 side of the proxy. `limits`: the header size limit HTTP/1.1 heads have (the header list may be as
 * large, plus HPACK's 32 bytes per field); `idleMs`: a session with no frames for this long is closed (GOAWAY).
 */
export function createH2Handler(
  ctx: ForwardContext,
  settings: H2Settings,
  maxHeaderSize: number,
  idleMs: number,
  onInternalError: (err: unknown) => void,
): H2Handler {
  const server: Http2Server = createServer({
    settings: {
      maxConcurrentStreams: settings.maxConcurrentStreams,
      initialWindowSize: settings.initialWindowSize,
      maxHeaderListSize: maxHeaderSize + 32 * 64,
      enableConnectProtocol: false,
      enablePush: false,
    },
    maxSessionMemory: settings.maxSessionMemoryMb,
    // node:http2's default (128 pairs) is lower than the header lines an HTTP/1.1 head may have.
    maxHeaderListPairs: MAX_HEADER_LINES + 8,
    // Streams the client has not told us about before our reset are limits hit on purpose (rapid reset).
    maxSessionRejectedStreams: 100,
    maxSessionInvalidFrames: 1000,
  });
  const sessions = new Set<ServerHttp2Session>();
  let nextPeer: Peer | null = null;
  const metrics = ctx.metrics;

  server.on('session', (session: ServerHttp2Session) => {
    (session as PeeredSession)[kPeer] = nextPeer!;
    sessions.add(session);
    metrics.h2Sessions++;
    metrics.openConnections++;
    session.on('close', () => {
      sessions.delete(session);
      metrics.h2Sessions--;
      metrics.openConnections--;
    });
    // A session error (protocol error, socket reset) ends the session; its streams see 'close'.
    session.on('error', ignore);
    session.setTimeout(idleMs, () => session.close());
    if (ctx.draining) session.close();
  });
  server.on(
    'stream',
    (stream: ServerHttp2Stream, _headers: IncomingHttpHeaders, flags: number, raw: string[]) => {
      try {
        handleStream(ctx, stream, flags, raw);
      } catch (err) {
        onInternalError(err);
        if (!stream.destroyed) stream.close(NGHTTP2_INTERNAL_ERROR);
      }
    },
  );

  return {
    handle: (socket: TLSSocket): void => {
      nextPeer = peerOf(socket as Socket, ctx.trust);
      server.emit('connection', socket);
      nextPeer = null;
    },
    close(): void {
      for (const session of sessions) session.close();
    },
    destroy(): void {
      for (const session of sessions) session.destroy();
    },
    get sessions(): number {
      return sessions.size;
    },
  };
}

function ignore(): void {}

/** One stream: read its head, route it, and either answer it or forward it. */
function handleStream(ctx: ForwardContext, stream: ServerHttp2Stream, flags: number, raw: string[]): void {
  const start = performance.now();
  const table = ctx.table;
  ctx.metrics.h2Streams++;
  stream.on('error', ignore);
  const fwd = new H2Forward(ctx, stream, table, start, (stream.session as PeeredSession)[kPeer]);
  const hostStatus = readH2Head(fwd, raw, (flags & NGHTTP2_FLAG_END_STREAM) !== 0, ctx.underscoresInHeaders);
  fwd.requestId = trustedRequestId(fwd, fwd.peer) ?? nextRequestId();
  if (fwd.method === 'CONNECT') {
    fwd.refuseConnect();
    return;
  }
  const status =
    hostStatus !== 0
      ? hostStatus
      : routeRequest(table, fwd, fwd.method, fwd.url, 11, raw.length >> 1, fwd.peer);
  // 308 (redirectHttps) is for plain HTTP only: an h2 stream is always on TLS, so it never comes back here.
  // HTTP-01 challenges are validated over plain HTTP (RFC 8555 §8.3): over HTTP/2 their path is not found.
  if (status !== 0) {
    fwd.reject((status === ACME_ANSWER ? 404 : status) as ErrorStatus, fwd.host);
    return;
  }
  fwd.start();
}

/** A request read from an HTTP/2 header list (this node:http2 path, and the fast one: h2-fast.ts). */
export interface H2Head extends RoutedRequest {
  method: string;
  url: string;
}

/**
 * Reads a stream's header list (flat, as received) into `head`: pseudo-headers to method, target and Host;
 * cookies joined. Returns 400 when `:authority` and a Host field disagree, else 0. `ended`: the HEADERS frame
 * ended the stream (no body).
 */
export function readH2Head(
  head: H2Head,
  raw: readonly string[],
  ended: boolean,
  underscores: boolean,
): number {
  const regular: string[] = [];
  let authority: string | undefined;
  let cookie: string | undefined;
  let cookieAt = -1;
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === 0x3a /* : */) {
      if (name === ':method') head.method = value;
      else if (name === ':path') head.url = value;
      else if (name === ':authority') authority = value;
      // :scheme says nothing routing needs; :protocol never gets here (extended CONNECT is not offered).
      continue;
    }
    if (name === 'cookie') {
      if (cookie === undefined) {
        cookie = value;
        cookieAt = regular.length + 1;
        regular.push(name, value);
      } else {
        cookie = `${cookie}; ${value}`;
      }
      continue;
    }
    if (name === 'host') host = value;
    regular.push(name, value);
  }
  if (cookieAt !== -1) regular[cookieAt] = cookie!;
  let status = 0;
  if (authority !== undefined) {
    if (host === undefined) regular.unshift('host', authority);
    else if (host.toLowerCase() !== authority.toLowerCase()) status = 400;
  }
  readRawHeaders(regular, head, underscores);
  // HTTP/2 frames the body itself: without a content-length, whatever DATA follows goes upstream chunked.
  if (!ended && head.contentLengths === 0) head.hasBody = true;
  else if (ended) head.hasBody = false;
  return status;
}

class H2Forward extends ForwardedRequest {
  readonly stream: ServerHttp2Stream;
  method = 'GET';
  url = '/';
  /** The status answered (the upstream's, or the proxy's own). */
  status = 0;
  /** The response body's length as the upstream framed it; -1: chunked or until close. */
  length = -1;

  constructor(
    ctx: ForwardContext,
    stream: ServerHttp2Stream,
    table: RouteTable,
    startedAt: number,
    peer: Peer,
  ) {
    super(ctx, table, startedAt, peer);
    this.stream = stream;
  }

  /** Answers without contacting an upstream (route.ts). */
  reject(status: ErrorStatus, host: string): void {
    this.status = status;
    sendErrorPageOnStream(
      this.stream,
      status,
      host,
      this.table.pages,
      this.method === 'HEAD',
      this.requestId,
    );
    this.record(this.ctx.metrics.unknown, status);
  }

  /** CONNECT asks for a tunnel, which this proxy does not make. */
  refuseConnect(): void {
    this.status = 405;
    this.stream.respond({ [HTTP2_HEADER_STATUS]: 405, 'x-request-id': this.requestId }, { endStream: true });
    this.record(this.ctx.metrics.unknown, 405);
  }

  start(): void {
    addForwardedHeaders(this, this.peer, this.host, this.peer.proto, this.requestId);
    this.ctx.inFlight++;
    this.stream.on('close', this.#onClose);
    if (this.hasBody) this.body = new StreamBody(this.stream, this.#aborted);
    const head = new RequestHeadText(this.method, this.path, this.headers, this.body !== null);
    this.upstreamHead = head;
    const failed = startAttempt(this, this.group!, this.peer.address, this.method, head, this.body);
    if (failed !== null) this.fail(failed);
  }

  // --- upstream response handler (upstream/client.ts); onError: forwarded-request.ts ---

  onHeaders(statusCode: number, headers: string[], length: number): boolean {
    this.upstream!.answered();
    this.length = length;
    if (this.clientGone || this.stream.destroyed) return false;
    const out: OutgoingHttpHeaders = { [HTTP2_HEADER_STATUS]: statusCode };
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      const kind = headerKind(name);
      if (kind === HOP || kind === CONNECTION || kind === TRANSFER_ENCODING || kind === UPGRADE) continue;
      const key = name.toLowerCase();
      const value = headers[i + 1]!;
      const seen = out[key];
      if (seen === undefined) out[key] = value;
      else if (key === 'set-cookie')
        out[key] = Array.isArray(seen) ? [...seen, value] : [seen as string, value];
      else out[key] = `${seen as string}, ${value}`;
    }
    // HSTS (TLS connections only, which every HTTP/2 one here is).
    const hsts = this.vhost!.hsts;
    if (hsts !== null) out['strict-transport-security'] = hsts;
    try {
      this.stream.respond(out);
    } catch {
      // node:http2 refused what the upstream sent (an invalid header name or value): a bad gateway.
      return false;
    }
    this.status = statusCode;
    return true;
  }

  onData(upstreamChunk: Buffer): boolean {
    this.bytesOut += upstreamChunk.length;
    const stream = this.stream;
    if (stream.writableEnded) return true; // HEAD, 204, 304: node:http2 ended the stream with the headers
    // A copy: the upstream client's read buffer is reused by its next read, and the stream queues what it gets.
    const chunk = Buffer.from(upstreamChunk);
    if (this.bytesOut === this.length) {
      // The body's last bytes: DATA with END_STREAM in one frame, not a DATA and an empty one after it.
      stream.end(chunk);
      return true;
    }
    if (stream.write(chunk)) return true;
    if (!this.listeningForDrain) {
      this.listeningForDrain = true;
      stream.on('drain', this.onDrain);
    }
    return false;
  }

  onComplete(): void {
    settleAttempt(this, this.method, this.status);
    if (!this.stream.writableEnded) this.stream.end();
  }

  get responseStarted(): boolean {
    return this.stream.headersSent;
  }

  fail(err: Error): void {
    const stream = this.stream;
    if (stream.headersSent) {
      // Too late for a status: reset the stream so the client sees an incomplete response, not a complete one.
      if (!stream.destroyed) stream.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    const status = this.failureStatus(err);
    this.status = status;
    sendErrorPageOnStream(
      stream,
      status,
      this.host,
      this.table.pages,
      this.method === 'HEAD',
      this.requestId,
    );
  }

  /** The client reset the stream (its body is incomplete, whatever 'end' said). */
  #aborted = (): boolean => this.stream.aborted || this.stream.rstCode !== NGHTTP2_NO_ERROR;

  #onClose = (): void => {
    const stream = this.stream;
    this.forwardEnded(stream.rstCode === NGHTTP2_NO_ERROR && stream.writableFinished, this.status);
  };

  // --- observe/record.ts RecordedRequest (the rest: forwarded-request.ts) ---
  get httpVersion(): string {
    return '2.0';
  }
}
