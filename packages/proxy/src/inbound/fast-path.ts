/**
 * The fast path: plain requests read straight off the client socket, everything else handed to node:http.
 *
 * Why: measured on the bench machine (proxy on its own core, loopback backend), a Node TCP relay that parses
 * nothing costs ~37 µs of CPU per request, a proxy that reads the request head itself and forwards it with
 * upstream/client.ts ~46-56 µs, the same forwarding behind node:http's server ~58-77 µs. node:http builds an
 * IncomingMessage and a ServerResponse (two streams), runs its parser and its header bookkeeping for every
 * request; a proxy needs the head's bytes, checked, and a place to write the answer.
 *
 * What takes the fast path: one complete request head in one read, nothing after it but (some of) its body
 * (no pipelined request behind it), `HTTP/1.1`, no body or one framed by a single Content-Length of digits (no
 * Transfer-Encoding), an origin-form target of visible ASCII, header lines that are strictly `token: value`
 * without control characters, exactly one Host that names a virtual host of the table, no Upgrade and no Expect,
 * and a proxy that is not draining. Anything else, at any point of a keep-alive connection, hands the connection
 * over to node:http for good (`server.emit('connection')` with the bytes read so far put back): its parser,
 * limits, timeouts, 400/404/408/431 answers, upgrades and chunked bodies all stay exactly as they are
 * (inbound/node-path.ts, upgrade.ts; inbound/node-connection.ts keeps pipelined requests in order and carries
 * the first head's deadline over). Both paths route through the same decision (inbound/route.ts).
 * A lenient or unusual request can therefore never be read differently by the two paths: the fast path only
 * accepts what it can check completely, and refuses nothing itself (but for the first head's timeout, 408 as
 * node:http answers it). A request's body pauses the client socket only while some of it is still to come.
 *
 * A Content-Length body is counted off the client socket and handed to the upstream connection as it comes, as
 * slices of the socket's reads (FastBody): no parser callback copies it, no stream carries it. Measured on the
 * bench machine, node:http's IncomingMessage copied every body chunk into a fresh Buffer and cost a 64 KB POST
 * more than the rest of the proxy together. A body the upstream answered before it was all sent, or one that
 * failed, closes the client connection after the response, as what is left of it cannot be told from a next
 * request without reading it.
 *
 * hot path — change with care. Per request: the head's end (no search when the read ends with it) and its latin1
 * text; a string comparison with the last two heads the proxy parsed (HeadMemo, per proxy: an idle connection
 * holds none), and only when neither matches (or the table was swapped, or a peer that reads it differently sent
 * it) a parse: one regular expression over the header lines and one pass over them, in place (parseRequest: the
 * same checks and header classification as inbound/node-path.ts, headers.ts, without cutting out lines, names or
 * values the proxy does not read), the host lookup, and the upstream head as slices of the client's own text
 * plus X-Forwarded-*, all kept for the next time (and for other connections whose peer reads the head the same
 * way). Then one upstream dispatch of that prepared head and one write of the response head with a small body (a
 * corked write with a larger one); the response head's text is built once per distinct upstream head
 * (upstream/client.ts keeps the parsed head per origin).
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { CLIENT_GONE } from '../errors.js';
import { errorResponse, httpDate, PLAIN_RESPONSES, statusForError } from '../http/error-pages.js';
import {
  addForwardedHeaders,
  CONNECTION,
  CONTENT_LENGTH,
  connectionTokens,
  EXPECT,
  forwardedHeaderLines,
  HEADER_LINES,
  HOST,
  headerColon,
  headerKindAt,
  PASS,
  type Peer,
  parseContentLength,
  peerOf,
  readRawHeaders,
  TRANSFER_ENCODING,
  trimOws,
  trustedRequestId,
  UNDERSCORE,
  UPGRADE,
  X_FORWARDED_FOR,
  X_FORWARDED_HOST,
  X_FORWARDED_PROTO,
  X_REQUEST_ID,
} from '../http/headers.js';
import { LazyTimeout } from '../lazy-timeout.js';
import { type RecordedRequest, recordRequest } from '../observe/record.js';
import { nextRequestId } from '../observe/request-id.js';
import type { RouteTable } from '../route-table/build.js';
import { ACME_CHALLENGE_PREFIX } from '../tls/acme/http-01.js';
import {
  type AttemptState,
  dispatchAttempt,
  failureStatus,
  retryTarget,
  settleAttempt,
  startAttempt,
} from '../upstream/attempt.js';
import { RequestHeadText, type ResponseHead, type UpstreamCall } from '../upstream/client.js';
import type { Upstream } from '../upstream/pool.js';
import type { ForwardContext } from './node-path.js';
import type { BodySink, RequestBody } from './request-body.js';
import { MAX_HEADER_LINES, RoutedRequest, routeRequest } from './route.js';

export interface FastPathSettings {
  /** Longest request head taken here; a longer one goes to node:http (which answers 431 past its limit). */
  maxHeaderSize: number;
  /** Idle keep-alive connections are closed after this, ms. */
  keepAliveTimeoutMs: number;
  /** A new connection must start its first request within this, ms. */
  headerTimeoutMs: number;
  /** A request's body must have arrived within this from its head, ms (then 408); 0: no limit. */
  requestTimeoutMs: number;
}

const CRLF2 = Buffer.from('\r\n\r\n');
/** Body chunks up to this size go out in one write with the response head. */
const SMALL_BODY = 2048;
/** Reason phrases, looked up once per status instead of per response. */
const STATUS_LINES = new Map<number, string>();

function statusLine(status: number): string {
  let line = STATUS_LINES.get(status);
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    if (STATUS_LINES.size < 1000) STATUS_LINES.set(status, line);
  }
  return line;
}

/** Where connections the fast path does not take go, and what the proxy tracks of the fast ones. */
export interface FastPathHost {
  ctx: ForwardContext;
  settings: FastPathSettings;
  /**
   * Gives the socket to node:http, with `buffered` (bytes already read) put back first. `headDeadline`: when the
   * head node:http reads next must be complete (Date.now() ms), 0 when node:http's own timing from its first
   * byte is right (inbound/node-connection.ts).
   */
  handOver(socket: Socket, buffered: Buffer | null, headDeadline: number): void;
  /** Connections on the fast path now (for closing idle ones on shutdown). */
  connections: Set<FastConnection>;
  /** A bug in the request path: log it, answer 500 if possible, keep the process. */
  internalError(err: unknown, socket: Socket): void;
  /** The last request heads parsed on any of this proxy's fast connections. */
  heads: HeadMemo;
}

/**
 * The last two request heads parsed by one proxy and their texts, each with the Peer it was read for: clients send
 * the same heads again and again (a monitor, a benchmark, two hosts taking turns). Kept per proxy, not per
 * connection, so that an idle keep-alive connection holds no parsed head; an entry serves any connection whose peer
 * reads it the same way (ParsedRequest.readFor).
 */
export class HeadMemo {
  parsed: ParsedRequest | null = null;
  parsedText = '';
  previous: ParsedRequest | null = null;
  previousText = '';

  /** The head parsed from `text` for `peer` under `table`, or null. */
  find(text: string, table: RouteTable, peer: Peer): ParsedRequest | null {
    const parsed = this.parsed;
    if (parsed !== null && this.parsedText === text && parsed.readFor(table, peer)) return parsed;
    const previous = this.previous;
    if (previous !== null && this.previousText === text && previous.readFor(table, peer)) {
      // Most recent first again.
      this.previous = parsed;
      this.previousText = this.parsedText;
      this.parsed = previous;
      this.parsedText = text;
      return previous;
    }
    return null;
  }

  add(text: string, parsed: ParsedRequest): void {
    this.previous = this.parsed;
    this.previousText = this.parsedText;
    this.parsed = parsed;
    this.parsedText = text;
  }

  clear(): void {
    this.parsed = null;
    this.parsedText = '';
    this.previous = null;
    this.previousText = '';
  }
}

/** The connection a socket on the fast path belongs to (the listeners below are shared by all sockets). */
const kConnection = Symbol('nodix.fastConnection');
type FastSocket = Socket & { [kConnection]: FastConnection };

function onSocketData(this: FastSocket, data: Buffer): void {
  this[kConnection].onData(data);
}
function onSocketEnd(this: FastSocket): void {
  this[kConnection].onEnd();
}
function onSocketClose(this: FastSocket): void {
  this[kConnection].onClose();
}
function onSocketDrain(this: FastSocket): void {
  this[kConnection].onDrain();
}
function onSocketError(): void {
  // 'close' follows; what it means for a request in flight is handled there.
}
function onConnectionTimeout(conn: FastConnection): void {
  conn.onTimeout();
}

/** One client connection while it is on the fast path. */
export class FastConnection {
  readonly socket: Socket;
  readonly host: FastPathHost;
  current: FastRequest | null = null;
  /** Bytes that arrived while a request was in flight (a pipelined request): handled when it completes. */
  pending: Buffer | null = null;
  /** Until the first request: the header timeout; between requests: the keep-alive timeout. */
  readonly timer: LazyTimeout<FastConnection>;
  keepAliveTimer = false;
  /** When the first request head is due (one header timeout after the accept); 0 once it came. */
  headDeadline: number;
  closing = false;
  peer: Peer | null = null;

  /**
   * Per connection only what a request in flight or the next one needs: listeners and timer callbacks are shared
   * (the socket points back here), the parsed heads are the proxy's (HeadMemo).
   */
  constructor(socket: Socket, host: FastPathHost) {
    this.socket = socket;
    this.host = host;
    (socket as FastSocket)[kConnection] = this;
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    socket.on('drain', onSocketDrain);
    this.headDeadline = Date.now() + host.settings.headerTimeoutMs;
    this.timer = new LazyTimeout<FastConnection>(onConnectionTimeout, this);
    this.timer.start(performance.now(), host.settings.headerTimeoutMs);
    host.connections.add(this);
  }

  get idle(): boolean {
    return this.current === null;
  }

  onData(data: Buffer): void {
    // A connection being closed reads nothing more: not the rest of a body, not a request behind it.
    if (this.closing) return;
    try {
      const current = this.current;
      if (current === null) {
        this.next(data);
        return;
      }
      let rest = data;
      const body = current.body;
      if (body !== null && body.remaining > 0) {
        if (data.length <= body.remaining) {
          body.push(data);
          return;
        }
        const take = body.remaining;
        body.push(data.subarray(0, take));
        rest = data.subarray(take);
      }
      this.pending = this.pending === null ? rest : Buffer.concat([this.pending, rest]);
      // Backpressure on a client that pipelines faster than it is answered.
      if (this.pending.length > this.host.settings.maxHeaderSize) this.socket.pause();
    } catch (err) {
      this.host.internalError(err, this.socket);
    }
  }

  /** Serves `data` if it is one plain request, else hands the connection (with `data`) to node:http. */
  next(data: Buffer): void {
    const host = this.host;
    const ctx = host.ctx;
    // A read that ends in CRLF CRLF (a request without a body, the usual case) is taken to end its head there
    // without a search, unless an LF comes right before: then the head may have ended two bytes earlier (a request
    // followed by an empty line, which RFC 9112 §2.2 lets a client send, or a body that is CRLF), and the search
    // finds where. A head with an empty line further before that end has a request (or bytes) behind its own
    // head, which parseRequest refuses (an empty header line) and node:http then reads, as it reads any pipeline.
    const length = data.length;
    const end =
      length >= 5 &&
      data[length - 1] === 0x0a &&
      data[length - 2] === 0x0d &&
      data[length - 3] === 0x0a &&
      data[length - 4] === 0x0d &&
      data[length - 5] !== 0x0a
        ? length - 4
        : data.indexOf(CRLF2);
    if (end === -1 || end > host.settings.maxHeaderSize || ctx.draining) {
      this.handOver(data);
      return;
    }
    const text = data.toString('latin1', 0, end);
    let peer = this.peer;
    if (peer === null) {
      peer = peerOf(this.socket, ctx.trust);
      this.peer = peer;
    }
    let parsed = host.heads.find(text, ctx.table, peer);
    if (parsed === null) {
      parsed = parseRequest(text, ctx.table, peer, ctx.underscoresInHeaders, ctx.accessLog !== null);
      if (parsed === null) {
        this.handOver(data);
        return;
      }
      // Not a challenge path: whether it is answered or routed depends on which HTTP-01 challenges are pending
      // (inbound/route.ts), which changes without a table swap.
      if (!parsed.url.startsWith(ACME_CHALLENGE_PREFIX)) host.heads.add(text, parsed);
    }
    const bodyStart = end + 4;
    if (data.length - bodyStart > parsed.bodyLength) {
      // Bytes behind the request (a pipelined one, after any body): node:http's from here on.
      this.handOver(data);
      return;
    }
    this.headDeadline = 0;
    const request = new FastRequest(this, parsed);
    this.current = request;
    request.start(bodyStart < data.length ? data.subarray(bodyStart) : null);
  }

  /** The request completed (or failed with an answer) at `now` (performance.now()): next one, idle, or close. */
  done(keepAlive: boolean, now: number): void {
    this.current = null;
    if (!keepAlive || this.host.ctx.draining) {
      this.close();
      return;
    }
    const pending = this.pending;
    if (pending !== null) {
      this.pending = null;
      this.socket.resume();
      this.next(pending);
      return;
    }
    this.keepAliveTimer = true;
    this.timer.start(now, this.host.settings.keepAliveTimeoutMs);
  }

  handOver(data: Buffer | null): void {
    this.detach();
    this.host.handOver(this.socket, data, this.headDeadline);
  }

  detach(): void {
    const socket = this.socket;
    socket.off('data', onSocketData);
    socket.off('end', onSocketEnd);
    socket.off('close', onSocketClose);
    socket.off('error', onSocketError);
    socket.off('drain', onSocketDrain);
    this.timer.clear();
    this.host.connections.delete(this);
  }

  /** Ends the connection after what was written (FIN), as node:http does after `Connection: close`. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    const socket = this.socket;
    socket.end();
    // What the client still sends (the rest of a body nobody read) is read and dropped (onData), so that its FIN
    // is seen and its writes are not answered with a reset; a socket paused for backpressure would read nothing.
    socket.resume();
    // A peer that never closes its side is cut after a while.
    const timer = setTimeout(() => socket.destroy(), 5000);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }

  onTimeout(): void {
    if (this.current !== null) return;
    if (this.keepAliveTimer) {
      this.socket.destroy();
      return;
    }
    // The first head did not come in time: 408 and close, as node:http answers its header timeout.
    this.host.ctx.metrics.unknown.record('OTHER', 408, 0);
    this.socket.write(PLAIN_RESPONSES[408], 'latin1');
    this.close();
  }

  onDrain(): void {
    this.current?.call?.resume();
  }

  /** The route table was swapped: what was parsed under the old one is dropped. */
  forgetHeads(): void {
    this.host.heads.clear();
  }

  onRequestTimeout(): void {
    this.current?.requestTimedOut();
  }

  /**
   * The client sent FIN. node:http's servers are half-open sockets; like node:http (httpAllowHalfOpen false), a
   * request in flight is abandoned and our side is ended too.
   */
  onEnd(): void {
    this.current?.clientClosed();
    this.current = null;
    // Not twice: after close() (a `Connection: close` answer) end() again builds an ERR_STREAM_ALREADY_FINISHED,
    // stack trace and all, once per connection; a TLS socket (allowHalfOpen off) has ended itself by now too.
    if (!this.socket.writableEnded) this.socket.end();
  }

  onClose(): void {
    this.detach();
    this.current?.clientClosed();
    this.current = null;
  }
}

/**
 * A request head the fast path takes, parsed and resolved against one route table: everything about a request
 * that its head, its peer and the table decide, down to the head written upstream. Never changed once built;
 * a connection keeps its last one and reuses it for the same head text and table.
 */
class ParsedRequest extends RoutedRequest {
  readonly table: RouteTable;
  /** The peer it was read for (its X-Forwarded-For, its trust). */
  readonly peer: Peer;
  method = '';
  url = '';
  /** The client did not ask to close. */
  keepAlive = true;
  /** The Content-Length of the body; 0 when it has none. */
  bodyLength = 0;
  upstreamHead: RequestHeadText | null = null;
  /** A trusted proxy's X-Request-Id (in `upstreamHead` already); else each request makes its own. */
  trustedId: string | undefined = undefined;

  constructor(table: RouteTable, peer: Peer) {
    super();
    this.table = table;
    this.peer = peer;
  }

  /**
   * Read under `table` for a peer like `peer` (each connection has its own Peer object): everything a parse takes
   * from the connection is in these four fields (X-Forwarded-For, whether the client's X-Forwarded-* are kept,
   * X-Forwarded-Proto and the 421 check against the SNI name), so the head serves every connection that has them.
   * (An earlier commit kept an entry to the connection that parsed it, blaming the sharing for stalls the fuzzer
   * found; but every fuzzer head carries a unique X-Fuzz-Id, so no head was ever shared there: those stalls came and
   * went with timing, as the same seed on that tree still shows, and no seed fails with sharing now.)
   */
  readFor(table: RouteTable, peer: Peer): boolean {
    const own = this.peer;
    return (
      this.table === table &&
      (own === peer ||
        (own.address === peer.address &&
          own.trusted === peer.trusted &&
          own.proto === peer.proto &&
          own.servername === peer.servername))
    );
  }
}

/** SP or HTAB: optional whitespace around a header value. */
function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * The method a request line starts with, when it is one whose requests carry no body unless they say so (GET, HEAD,
 * DELETE, OPTIONS, POST, PUT, PATCH; others go to node:http) and `sp` is the space after it; else null.
 */
function methodOf(text: string, sp: number): string | null {
  switch (sp) {
    case 3:
      return text.startsWith('GET') ? 'GET' : text.startsWith('PUT') ? 'PUT' : null;
    case 4:
      return text.startsWith('POST') ? 'POST' : text.startsWith('HEAD') ? 'HEAD' : null;
    case 5:
      return text.startsWith('PATCH') ? 'PATCH' : null;
    case 6:
      return text.startsWith('DELETE') ? 'DELETE' : null;
    case 7:
      return text.startsWith('OPTIONS') ? 'OPTIONS' : null;
    default:
      return null;
  }
}

/**
 * Reads a head for the fast path; null when it is not one the fast path takes (see the file comment).
 *
 * hot path: one regular expression over the header lines (HEADER_LINES), then one pass over them, in place. The
 * checks and the classification are readRawHeaders' and headerColon's (the conformance suite holds the two paths
 * to the same answers), but no line, name or value is cut out unless the proxy reads it (Host, Content-Length,
 * Connection, X-Forwarded-*, X-Request-Id), and the upstream head is the client's own text: runs of lines
 * forwarded as they came are copied as slices, and only a line with unusual whitespace around its value is
 * written anew (`name: value`, as the other paths write it). Rare heads (custom Connection options, an access
 * log that wants the header list) take parseRequestByLines.
 */
function parseRequest(
  text: string,
  table: RouteTable,
  peer: Peer,
  underscores: boolean,
  logged: boolean,
): ParsedRequest | null {
  if (logged) return parseRequestByLines(text, table, peer, underscores);
  const lineEnd = text.indexOf('\r\n');
  // No header line, so no Host: node:http's path answers 400.
  if (lineEnd === -1) return null;
  const sp1 = text.indexOf(' ');
  const method = methodOf(text, sp1);
  if (method === null) return null;
  const sp2 = text.indexOf(' ', sp1 + 1);
  if (sp2 === -1 || lineEnd - sp2 !== 9 || !text.startsWith(' HTTP/1.1', sp2)) return null;
  if (text.charCodeAt(sp1 + 1) !== 0x2f /* / */) return null;
  for (let i = sp1 + 2; i < sp2; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return null;
  }
  const url = text.slice(sp1 + 1, sp2);

  // Every header line at once: a token, its colon, and a value with no control character but HTAB (so no CR or
  // LF that is not a line's end, no obs-fold: headerColon's rule). One regular expression over the block costs
  // half of what a charCodeAt loop over every byte did (its per-line work is left to the loop below).
  const length = text.length;
  HEADER_LINES.lastIndex = lineEnd + 2;
  if (!HEADER_LINES.test(text) || HEADER_LINES.lastIndex !== length) return null;

  const parsed = new ParsedRequest(table, peer);
  /** The upstream head so far, and where the run of lines copied as they are starts. */
  let open = '';
  let run = 0;
  let lines = 0;
  let pos = lineEnd + 2;
  /** The first `_` at or after `pos` (-1: none): found once, not once per line. */
  let underscoreAt = text.indexOf('_', pos);
  while (pos < length) {
    let end = text.indexOf('\r\n', pos);
    if (end === -1) end = length;
    if (++lines > MAX_HEADER_LINES) return null;
    // The name has no colon (HEADER_LINES), so the line's first colon ends it.
    const colon = text.indexOf(':', pos);
    // node:http refuses some values that end in a tab: such lines are its to judge.
    if (text.charCodeAt(end - 1) === 0x09) return null;
    if (underscoreAt !== -1 && underscoreAt < pos) underscoreAt = text.indexOf('_', pos);
    const underscore = underscoreAt !== -1 && underscoreAt < colon;
    // Where the value starts and stops without optional whitespace.
    let start = colon + 1;
    while (start < end && isOws(text.charCodeAt(start))) start++;
    let stop = end;
    while (stop > start && isOws(text.charCodeAt(stop - 1))) stop--;
    let keep = true;
    switch (underscore ? UNDERSCORE : headerKindAt(text, pos, colon)) {
      case PASS:
        break;
      case HOST:
        parsed.hostCount++;
        parsed.host = text.slice(start, stop);
        break;
      case CONTENT_LENGTH: {
        const value = text.slice(start, stop);
        if (value !== '0') parsed.hasBody = true;
        parsed.contentLengths++;
        parsed.contentLength = value;
        break;
      }
      case TRANSFER_ENCODING:
      case UPGRADE:
      case EXPECT:
        return null;
      case CONNECTION: {
        const value = text.slice(start, stop);
        parsed.connection = parsed.connection === undefined ? value : `${parsed.connection}, ${value}`;
        keep = false;
        break;
      }
      case X_FORWARDED_FOR: {
        const value = text.slice(start, stop);
        parsed.forwardedFor = parsed.forwardedFor === undefined ? value : `${parsed.forwardedFor}, ${value}`;
        keep = false;
        break;
      }
      case X_FORWARDED_PROTO:
        parsed.forwardedProto ??= text.slice(start, stop);
        keep = false;
        break;
      case X_FORWARDED_HOST:
        parsed.forwardedHost ??= text.slice(start, stop);
        keep = false;
        break;
      case X_REQUEST_ID:
        parsed.incomingRequestId ??= text.slice(start, stop);
        keep = false;
        break;
      case UNDERSCORE:
        keep = underscores;
        break;
      default: // HOP
        keep = false;
    }
    // `name: value` exactly as the other paths write it: the line goes on in the current run.
    const asIs = keep && text.charCodeAt(colon + 1) === 0x20 && start === colon + 2 && stop === end;
    if (!asIs) {
      open += text.slice(run, pos);
      if (keep) open += `${text.slice(pos, colon)}: ${text.slice(start, stop)}\r\n`;
      run = end + 2;
    }
    pos = end + 2;
  }
  if (run < length) open += `${text.slice(run, length)}\r\n`;
  if (parsed.hostCount !== 1 || parsed.contentLengths > 1) return null;
  if (parsed.hasBody) {
    const bodyLength = parseContentLength(parsed.contentLength);
    if (bodyLength <= 0) return null;
    parsed.bodyLength = bodyLength;
  }
  const connection = parsed.connection;
  if (connection !== undefined) {
    // Options naming headers to drop: the line-by-line reader removes them.
    if (connectionTokens(connection) !== null) return parseRequestByLines(text, table, peer, underscores);
    if (asksToClose(connection)) parsed.keepAlive = false;
  }
  if (routeRequest(table, parsed, method, url, 11, lines, peer) !== 0) return null;
  parsed.method = method;
  parsed.url = url;
  const trustedId = trustedRequestId(parsed, peer);
  parsed.trustedId = trustedId;
  parsed.upstreamHead = RequestHeadText.of(
    open + forwardedHeaderLines(parsed, peer, parsed.host, peer.proto, trustedId),
  );
  return parsed;
}

/** A Connection header value with the `close` option (case-insensitive). */
function asksToClose(connection: string): boolean {
  return connection !== 'keep-alive' && /(^|[\s,])close([\s,]|$)/i.test(connection);
}

/**
 * parseRequest for the rare heads: split into lines, read by readRawHeaders (the node:http path's reader) and the
 * upstream head serialised from its header list.
 */
function parseRequestByLines(
  text: string,
  table: RouteTable,
  peer: Peer,
  underscores: boolean,
): ParsedRequest | null {
  const lines = text.split('\r\n');
  const requestLine = lines[0]!;
  const sp1 = requestLine.indexOf(' ');
  const sp2 = requestLine.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 === -1 || requestLine.length - sp2 !== 9 || !requestLine.endsWith(' HTTP/1.1'))
    return null;
  const method = methodOf(requestLine, sp1);
  if (method === null) return null;
  const url = requestLine.slice(sp1 + 1, sp2);
  if (url.charCodeAt(0) !== 0x2f /* / */) return null;
  for (let i = 1; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return null;
  }
  if (lines.length - 1 > MAX_HEADER_LINES) return null;
  const raw: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = headerColon(line);
    // node:http refuses some values that end in a tab (`Content-Length: 5<TAB>`): such lines are its to judge.
    if (colon === -1 || line.charCodeAt(line.length - 1) === 0x09) return null;
    raw.push(line.slice(0, colon), trimOws(line.slice(colon + 1)));
  }
  const parsed = new ParsedRequest(table, peer);
  readRawHeaders(raw, parsed, underscores);
  if (
    parsed.upgrade !== undefined ||
    parsed.expect ||
    parsed.hostCount !== 1 ||
    parsed.transferEncoding ||
    parsed.contentLengths > 1
  )
    return null;
  if (parsed.hasBody) {
    const length = parseContentLength(parsed.contentLength);
    if (length <= 0) return null;
    parsed.bodyLength = length;
  }
  // A Content-Length of 0 counts as no body in readRawHeaders; the header itself is still forwarded.
  if (parsed.connection !== undefined && asksToClose(parsed.connection)) parsed.keepAlive = false;
  // Refusals (the unknown-host page, 400 for a malformed Host, ...) are answered by node:http's path, which
  // reaches the same decision (inbound/route.ts).
  if (routeRequest(table, parsed, method, url, 11, lines.length - 1, peer) !== 0) return null;
  parsed.method = method;
  parsed.url = url;
  parsed.trustedId = trustedRequestId(parsed, peer);
  addForwardedHeaders(parsed, peer, parsed.host, peer.proto, parsed.trustedId);
  parsed.upstreamHead = new RequestHeadText(method, url, parsed.headers, parsed.bodyLength > 0);
  return parsed;
}

/** One request on the fast path: its parsed head, the upstream exchange and the response state. */
class FastRequest implements AttemptState, RecordedRequest {
  readonly conn: FastConnection;
  readonly parsed: ParsedRequest;
  readonly startedAt: number;
  readonly method: string;
  readonly url: string;
  readonly httpVersion = '1.1';
  keepAlive: boolean;
  upstream: Upstream | null = null;
  call: UpstreamCall | null = null;
  /** The current attempt upstream ended; its `active` count was returned. */
  settled = true;
  retried = false;
  finished = false;
  /** The response head, built and not yet written (it goes out with the first body bytes). */
  head: string | null = null;
  /** Anything of the response was written to the client. */
  wrote = false;
  chunked = false;
  status = 0;
  body: FastBody | null = null;
  readonly requestId: string;
  /** When the current attempt was sent upstream; how long it took once it settled (-1: none yet). */
  upstreamStart = 0;
  upstreamSeconds = -1;
  settledAt = 0;
  /** `x-request-id: <id>` CRLF, sent after the shared upstream head; '' when a trusted proxy's id is in it. */
  idLine = '';
  bytesOut = 0;

  constructor(conn: FastConnection, parsed: ParsedRequest) {
    this.conn = conn;
    this.parsed = parsed;
    this.requestId = parsed.trustedId ?? nextRequestId();
    this.method = parsed.method;
    this.url = parsed.url;
    this.keepAlive = parsed.keepAlive;
    this.startedAt = performance.now();
  }

  /** `first`: body bytes that came in the read with the head. */
  start(first: Buffer | null): void {
    const parsed = this.parsed;
    if (parsed.bodyLength > 0) this.body = new FastBody(this.conn, parsed.bodyLength, first);
    this.conn.host.ctx.inFlight++;
    // The upstream head is shared by identical requests; this request's own id goes out after it.
    if (parsed.trustedId === undefined) this.idLine = `x-request-id: ${this.requestId}\r\n`;
    const failed = startAttempt(
      this,
      parsed.group!,
      this.conn.peer!.address,
      this.method,
      parsed.upstreamHead!,
      this.body,
      this.idLine,
      // Sent in the same turn as its head was read: one clock reading for both.
      this.startedAt,
    );
    if (failed !== null) this.fail(failed);
  }

  dispatch(upstream: Upstream): void {
    dispatchAttempt(this, upstream, this.method, this.parsed.upstreamHead!, this.body, this.idLine);
  }

  // --- upstream response handler ---

  onHeaders(status: number, headers: string[], length: number, response: ResponseHead): boolean {
    this.upstream!.answered();
    if (this.finished) return false;
    this.status = status;
    // The status line and headers as the client gets them, serialised once per upstream head (which the
    // upstream client shares between the responses that had the same head text).
    let head = response.clientHead;
    if (head === null) {
      head = statusLine(status);
      let hasDate = false;
      for (let i = 0; i < headers.length; i += 2) {
        const name = headers[i]!;
        if (name.length === 4 && !hasDate && name.toLowerCase() === 'date') hasDate = true;
        head += `${name}: ${headers[i + 1]}\r\n`;
      }
      response.clientHead = head;
      response.clientHeadHasDate = hasDate;
    }
    if (length === -1 && this.method !== 'HEAD' && status !== 204 && status !== 304) {
      // Chunked or close-delimited upstream: re-framed as chunked, the framing HTTP/1.1 keeps alive with.
      this.chunked = true;
      head += 'transfer-encoding: chunked\r\n';
    }
    if (!response.clientHeadHasDate) head += `date: ${httpDate()}\r\n`;
    // HSTS: TLS connections only (RFC 6797 §7.2), the line precomputed per virtual host.
    if (this.conn.peer!.proto === 'https' && this.parsed.vhost!.hstsLine !== null)
      head += this.parsed.vhost!.hstsLine;
    if (this.body !== null && this.body.remaining > 0) this.keepAlive = false;
    if (!this.keepAlive || this.conn.host.ctx.draining) {
      this.keepAlive = false;
      head += 'connection: close\r\n';
    }
    this.head = `${head}\r\n`;
    return true;
  }

  onData(input: Buffer): boolean {
    this.bytesOut += input.length;
    const socket = this.conn.socket;
    const head = this.head;
    if (head !== null && !this.chunked && input.length <= SMALL_BODY) {
      // A small body and its head as one string in one plain write: cheaper than a corked writev of two.
      this.head = null;
      this.wrote = true;
      return socket.write(head + input.toString('latin1'), 'latin1');
    }
    // The upstream client's read buffer is reused by its next read; a write may wait in the socket's queue.
    const chunk = Buffer.from(input);
    socket.cork();
    if (head !== null) {
      this.head = null;
      this.wrote = true;
      socket.write(head, 'latin1');
    }
    let ok: boolean;
    if (this.chunked) {
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      ok = socket.write('\r\n', 'latin1');
    } else {
      ok = socket.write(chunk);
    }
    socket.uncork();
    return ok;
  }

  onComplete(): void {
    settleAttempt(this, this.method, this.status);
    if (this.finished) return;
    const socket = this.conn.socket;
    // Upstream trailers are dropped, as on the node:http path.
    const head = this.head;
    if (head !== null) {
      this.head = null;
      this.wrote = true;
      socket.write(this.chunked ? `${head}0\r\n\r\n` : head, 'latin1');
    } else if (this.chunked) {
      socket.write('0\r\n\r\n', 'latin1');
    }
    // The request ends as its attempt settled: the same clock reading.
    this.finish(this.status, this.keepAlive, this.settledAt);
  }

  onError(err: Error): void {
    settleAttempt(this, this.method, this.finished ? 499 : statusForError(err));
    if (this.finished) return;
    const next = retryTarget(
      this,
      err,
      this.parsed.group!,
      this.conn.peer!.address,
      this.method,
      this.body,
      // A response head already received counts as started (as node:http's headersSent after writeHead): no
      // retry, no error page, so that both request paths end a response that broke after its head alike.
      this.wrote || this.head !== null,
    );
    if (next !== null) {
      process.nextTick(retry, this, next);
      return;
    }
    this.fail(err);
  }

  fail(err: Error): void {
    if (this.wrote || this.head !== null) {
      // Too late for a status: cut the connection so the client sees a truncated response.
      this.conn.socket.destroy();
      return;
    }
    this.head = null;
    const status = failureStatus(
      err,
      this.parsed.vhost!.key,
      this.method,
      this.url,
      this.upstream,
      this.conn.host.ctx.logError,
    );
    this.wrote = true;
    // The rest of an unsent body is not read: the connection closes after the page.
    if (this.body !== null && this.body.remaining > 0) this.keepAlive = false;
    this.conn.socket.write(
      errorResponse(
        status,
        this.parsed.host,
        this.parsed.table.pages,
        this.method === 'HEAD',
        !this.keepAlive,
        this.requestId,
      ),
    );
    this.finish(status, this.keepAlive);
  }

  /** The body did not arrive within the request timeout: 408 (as node:http answers it) and close. */
  requestTimedOut(): void {
    if (this.finished) return;
    if (this.wrote) {
      // The response started: cut the connection ('close' then aborts the upstream exchange).
      this.conn.socket.destroy();
      return;
    }
    this.head = null;
    this.wrote = true;
    this.conn.socket.write(PLAIN_RESPONSES[408], 'latin1');
    this.finish(408, false);
    if (!this.settled) this.call?.abort(CLIENT_GONE);
  }

  /** The client went away: stop the upstream exchange, count the request as nginx's 499. */
  clientClosed(): void {
    if (this.finished) return;
    // Finished first: the abort below reports back through onError, which must not answer a 502.
    this.finish(499, false);
    if (!this.settled) this.call?.abort(CLIENT_GONE);
  }

  /** `now`: performance.now() if the caller read it just before. */
  finish(status: number, keepAlive: boolean, now = performance.now()): void {
    if (this.finished) return;
    this.finished = true;
    const body = this.body;
    let reusable = keepAlive;
    if (body !== null) {
      body.stop();
      if (body.remaining > 0) reusable = false;
    }
    const ctx = this.conn.host.ctx;
    ctx.inFlight--;
    recordRequest(this.parsed.vhost!.stats, ctx.accessLog, this, status, now);
    if (status !== 499) this.conn.done(reusable, now);
  }

  // --- observe/record.ts RecordedRequest ---
  get clientAddress(): string {
    return this.conn.peer!.address;
  }
  get hostHeader(): string {
    return this.parsed.host;
  }
  get vhostKey(): string {
    return this.parsed.vhost!.key;
  }
  get bytesIn(): number {
    return this.parsed.bodyLength - (this.body?.remaining ?? 0);
  }
  get headers(): readonly string[] {
    return this.parsed.headers;
  }
}

function onRequestTimeout(conn: FastConnection): void {
  conn.onRequestTimeout();
}

function retry(request: FastRequest, upstream: Upstream): void {
  if (!request.finished) request.dispatch(upstream);
}

/**
 * The body of a fast-path request: its Content-Length bytes, counted off the client socket by FastConnection
 * and delivered to the upstream connection as they arrive. Bytes that arrive while no upstream connection takes
 * them (the request waits for a connection, or for its retry) are held, with the client socket paused.
 */
class FastBody implements RequestBody {
  readonly conn: FastConnection;
  /** Bytes still to come from the client. */
  remaining: number;
  /** What came in the read with the head: kept, so that a retry after a failed connect can send it again. */
  readonly first: Buffer | null;
  held: Buffer[] | null = null;
  sink: BodySink | null = null;
  /** Bytes beyond `first` went to an upstream: the body cannot be sent again. */
  readableDidRead = false;
  /** The upstream socket is full: the client is not read until it drains. */
  sinkPaused = false;
  timer: NodeJS.Timeout | null = null;

  constructor(conn: FastConnection, length: number, first: Buffer | null) {
    this.conn = conn;
    this.first = first;
    this.remaining = length - (first === null ? 0 : first.length);
    const timeout = conn.host.settings.requestTimeoutMs;
    if (this.remaining > 0 && timeout > 0) {
      this.timer = setTimeout(onRequestTimeout, timeout, conn);
      this.timer.unref();
    }
  }

  attach(sink: BodySink): void {
    this.sink = sink;
    this.sinkPaused = false;
    if (this.first !== null) sink.data(this.first);
    const held = this.held;
    if (held !== null) {
      this.held = null;
      this.readableDidRead = true;
      for (const chunk of held) sink.data(chunk);
    }
    if (this.remaining === 0) sink.end();
    else if (!this.sinkPaused) this.conn.socket.resume();
  }

  detach(): void {
    this.sink = null;
  }

  /**
   * The upstream socket is full: stop reading the client. Only while body bytes are still to come: once the body
   * is all here, the client socket carries the next request, which must be read (the pump that paused it stops
   * listening for 'drain' when the body ends, so nothing would resume it).
   */
  pause(): void {
    if (this.remaining === 0) return;
    this.sinkPaused = true;
    this.conn.socket.pause();
  }

  resume(): void {
    this.sinkPaused = false;
    this.conn.socket.resume();
  }

  /** Body bytes from the client (never more than `remaining`). */
  push(chunk: Buffer): void {
    this.remaining -= chunk.length;
    if (this.remaining === 0) this.stop();
    const sink = this.sink;
    if (sink === null) {
      if (this.held === null) this.held = [chunk];
      else this.held.push(chunk);
      // Nothing takes the body yet: no more of it is read. The rest of the connection is read as usual.
      if (this.remaining > 0) this.conn.socket.pause();
      else this.conn.socket.resume();
      return;
    }
    this.readableDidRead = true;
    sink.data(chunk);
    if (this.remaining === 0) this.sink?.end();
  }

  /** The request ended or its body is all here: no request timeout any more. */
  stop(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}
