/**
 * The node:http side of the request path: one HTTP request that the fast path (fast-path.ts) left to node:http
 * (chunked bodies, HTTP/1.0, pipelining, unknown hosts, anything unusual), from node:http's 'request' event to
 * the end of the upstream response.
 *
 * hot path — change with care. What it does per request, and why it is shaped this way:
 * - One object per request: `Forward` is at once the parsed request head (it extends RequestHead), the upstream
 *   response handler and the holder of the response state. No closures besides one 'close' listener.
 * - The route table is read once (`ctx.table`) into a local: a reload swaps `ctx.table`, and this request keeps
 *   the table it started with until it ends (in-flight requests finish on the old table).
 * - Host → virtual host is one Map lookup in the table's memo (host.ts); hosts without path routes skip
 *   find-my-way entirely.
 * - The upstream side is upstream/client.ts (why not undici: see there). It hands over the response head as the
 *   flat [name, value, ...] array without hop-by-hop headers, which goes straight to `res.writeHead(status,
 *   array)`: node:http serialises it without building a header object.
 * - Bodies stream both ways without buffering: the request body is read as the upstream socket accepts it (null
 *   when the request has none, so no stream machinery runs), the response is written chunk by chunk, and
 *   `onData` returning false (client slower than upstream) pauses the upstream socket until the client's 'drain'.
 * - Metrics are plain-number bumps on the virtual host's HostStats, done in the 'close' listener we need anyway.
 *
 * Failure handling: a client that goes away aborts the upstream request ('close' before the response finished);
 * an error before response headers becomes a status through error-pages.ts (maybe after one retry); an error
 * after them destroys the client connection. Dispatch, settle and retry are the fast path's too
 * (upstream/attempt.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CLIENT_GONE } from '../errors.js';
import { type ErrorStatus, sendErrorPage, sendRedirect } from '../http/error-pages.js';
import { addForwardedHeaders, peerOf, readRequestHead, trustedRequestId } from '../http/headers.js';
import type { AccessLog } from '../observe/access-log.js';
import type { ProxyMetrics } from '../observe/metrics.js';
import { nextRequestId } from '../observe/request-id.js';
import type { RouteTable } from '../route-table/build.js';
import { settleAttempt, startAttempt } from '../upstream/attempt.js';
import { RequestHeadText } from '../upstream/client.js';
import { ForwardedRequest } from './forwarded-request.js';
import { StreamBody } from './request-body.js';
import { ACME_ANSWER, redirectLocation, routeRequest, versionOf } from './route.js';
import type { TrustedProxies } from './trust.js';

/** The proxy state the request path reads. `table` is swapped by reloads; everything else is fixed. */
export interface ForwardContext {
  table: RouteTable;
  readonly trust: TrustedProxies | null;
  readonly metrics: ProxyMetrics;
  readonly accessLog: AccessLog | null;
  /** Set when shutting down: responses tell clients to close their connection. */
  draining: boolean;
  /** Requests forwarded and not yet closed: what a graceful shutdown waits for. */
  inFlight: number;
  /** The port part of https redirects: `:8443`, or '' when the TLS listener is on 443 or there is none. */
  httpsPort: string;
  /** Header names with an underscore are forwarded (else dropped, see UNDERSCORE in http/headers.ts). */
  readonly underscoresInHeaders: boolean;
  /** Logs an upstream failure (rate-limited by the proxy). */
  logError(message: string): void;
}

/** Handles one request. The proxy registers it as the server's 'request' listener. */
export function handleRequest(ctx: ForwardContext, req: IncomingMessage, res: ServerResponse): void {
  const start = performance.now();
  const table = ctx.table;
  const fwd = new Forward(ctx, req, res, table, start);
  readRequestHead(req, fwd, ctx.underscoresInHeaders);
  fwd.requestId = trustedRequestId(fwd, fwd.peer) ?? nextRequestId();
  if (ctx.draining) res.shouldKeepAlive = false;
  // node:http keeps at most MAX_HEADER_LINES + 1 lines (inbound/server.ts): one more than allowed is a refusal.
  const lines = req.rawHeaders.length >> 1;
  const status = routeRequest(table, fwd, req.method!, req.url ?? '/', versionOf(req), lines, fwd.peer);
  if (status !== 0) {
    if (status === ACME_ANSWER) fwd.answerAcme();
    else if (status === 308) fwd.redirect();
    else fwd.reject(status as ErrorStatus, fwd.host);
    return;
  }
  fwd.start();
}

class Forward extends ForwardedRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;

  constructor(
    ctx: ForwardContext,
    req: IncomingMessage,
    res: ServerResponse,
    table: RouteTable,
    startedAt: number,
  ) {
    super(ctx, table, startedAt, peerOf(req.socket, ctx.trust));
    this.req = req;
    this.res = res;
  }

  /** Answers without contacting an upstream (inbound/route.ts). */
  reject(status: ErrorStatus, host: string): void {
    sendErrorPage(this.req, this.res, status, host, this.table.pages, this.requestId);
    this.record(this.ctx.metrics.unknown, status);
  }

  /** An HTTP-01 challenge (tls/acme/http-01.ts): the key authorization as text/plain. */
  answerAcme(): void {
    const body = this.acmeAnswer;
    this.res.writeHead(200, [
      'content-type',
      'text/plain',
      'content-length',
      String(Buffer.byteLength(body)),
      'cache-control',
      'no-store',
    ]);
    this.res.end(this.req.method === 'HEAD' ? undefined : body);
    this.record(this.ctx.metrics.unknown, 200);
  }

  /** A `redirectHttps` host on plain HTTP (inbound/route.ts). */
  redirect(): void {
    sendRedirect(this.res, redirectLocation(this, this.ctx.httpsPort), this.requestId);
    this.record(this.vhost!.stats, 308);
  }

  start(): void {
    addForwardedHeaders(this, this.peer, this.host, this.peer.proto, this.requestId);
    this.ctx.inFlight++;
    this.res.on('close', this.#onClose);
    if (this.hasBody) this.body = new StreamBody(this.req);
    const method = this.req.method!;
    const head = new RequestHeadText(method, this.path, this.headers, this.body !== null);
    this.upstreamHead = head;
    const failed = startAttempt(this, this.group!, this.peer.address, method, head, this.body);
    if (failed !== null) this.fail(failed);
  }

  // --- upstream response handler (upstream/client.ts); onError: forwarded-request.ts ---

  onHeaders(statusCode: number, headers: string[]): boolean {
    this.upstream!.answered();
    if (this.clientGone) return false;
    // HSTS: TLS connections only (RFC 6797 §7.2). A copy: the upstream client may share its header array.
    const hsts = this.peer.proto === 'https' ? this.vhost!.hsts : null;
    try {
      this.res.writeHead(
        statusCode,
        hsts === null ? headers : [...headers, 'strict-transport-security', hsts],
      );
    } catch {
      // node:http refused what the upstream sent (an invalid header value): a bad gateway, not a crash.
      return false;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytesOut += chunk.length;
    // A copy: the upstream client's read buffer is reused by its next read, and res.write may queue what it gets.
    if (this.res.write(Buffer.from(chunk))) return true;
    if (!this.listeningForDrain) {
      this.listeningForDrain = true;
      this.res.on('drain', this.onDrain);
    }
    return false;
  }

  onComplete(): void {
    settleAttempt(this, this.req.method!, this.res.statusCode);
    // Upstream trailers are dropped: forwarding them would need `TE: trailers` from the client and chunked output.
    this.res.end();
  }

  get responseStarted(): boolean {
    return this.res.headersSent;
  }

  fail(err: Error): void {
    const res = this.res;
    if (res.headersSent) {
      // Too late for a status: cut the connection so the client sees a truncated response, not a complete one.
      res.destroy();
      return;
    }
    sendErrorPage(this.req, res, this.failureStatus(err), this.host, this.table.pages, this.requestId);
  }

  #onClose = (): void => {
    const res = this.res;
    this.ctx.inFlight--;
    if (!res.writableFinished) {
      // The client went away first: stop the upstream request.
      this.clientGone = true;
      if (!this.settled) this.call?.abort(CLIENT_GONE);
    }
    // 499 as nginx logs it: the client closed the connection before the response was complete.
    this.record(this.vhost!.stats, res.writableFinished ? res.statusCode : 499);
  };

  // --- observe/record.ts RecordedRequest (the rest: forwarded-request.ts) ---
  get method(): string {
    return this.req.method!;
  }
  get url(): string {
    return this.req.url!;
  }
  get httpVersion(): string {
    return this.req.httpVersion;
  }
}
