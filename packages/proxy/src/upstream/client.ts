/**
 * The upstream HTTP/1.1 client: keep-alive connections to one origin, one request at a time per connection.
 *
 * Why our own and not undici's Pool: measured on the bench machine (proxy on its own core, the same node:http
 * front end, the same backend), a node:http server forwarding through undici's `Pool.dispatch` costs ~75 µs of
 * CPU per request, the same server writing the request head to a net.Socket and framing the response itself
 * ~55 µs, and a raw TCP relay ~37 µs. A proxy only needs the part of a client that moves bytes: it never
 * decodes a body, never follows a redirect, never builds a header object. What undici spends per request beyond
 * that (its request object, its queue and timers, header validation we already had from node:http's parser,
 * calls across into the llhttp WebAssembly parser for every header) is a third of the proxy's cost. What this
 * file does instead, per request:
 * - the request head is one latin1 string (RequestHeadText) written with one `write`, together with the first
 *   body bytes when there are some; a caller that sends the same head again (the fast path) builds it once;
 * - the response head is found with one `indexOf('\r\n\r\n')`, decoded once, split into lines and checked
 *   strictly (status line, token names, no control characters, no obs-fold, framing headers that agree); the
 *   client keeps its origin's last final head and what it parsed from it, so the same head text again (an
 *   origin's answers differ mostly in their Date) is one string comparison;
 * - hop-by-hop headers are dropped in the same pass, so the handler gets exactly what `res.writeHead` takes;
 * - plain sockets read into one shared buffer (net's `onread`, see READ_BUFFER) instead of a fresh 64 KB one per
 *   read passed through a Readable stream; body bytes are passed on as slices of it (Content-Length counted down,
 *   chunked framing walked), which the proxy's writer copies or writes as it re-frames for its client;
 * - timers are three per connection, created once: upstream headers and keep-alive idle are LazyTimeouts (a
 *   restart per request is a store, lazy-timeout.ts), upstream body silence is `refresh()`ed per body read.
 *
 * Strictness, because a proxy that reads a response differently from its client is how responses get smuggled:
 * both Content-Length and Transfer-Encoding, differing Content-Lengths, a bad chunk size, a malformed header
 * line, a 101 to a plain request, or bytes after the end of a response all fail the exchange (502 before the
 * response started) and close the connection.
 */
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import {
  RequestBodyError,
  UpstreamBadResponseError,
  UpstreamBodyTimeoutError,
  UpstreamClientClosedError,
  UpstreamClosedError,
  UpstreamConnectTimeoutError,
  UpstreamHeadersTimeoutError,
  upstreamSocketFailure,
} from '../errors.js';
import {
  CONNECTION,
  connectionTokens,
  dropNamed,
  HEADER_LINES,
  HOP,
  headerKind,
  parseContentLength,
  TRANSFER_ENCODING,
  trimOws,
  UPGRADE,
} from '../http/headers.js';
import type { BodySink, RequestBody } from '../inbound/request-body.js';
import { LazyTimeout } from '../lazy-timeout.js';

export interface UpstreamSettings {
  /** TCP (and TLS) connect timeout, ms: NODIX_ERR_CONNECT_TIMEOUT. */
  connectTimeoutMs: number;
  /** From the whole request (body included) written to the response head, ms: NODIX_ERR_HEADERS_TIMEOUT. */
  headersTimeoutMs: number;
  /** Longest silence between two body chunks of a response, ms: NODIX_ERR_BODY_TIMEOUT. */
  bodyTimeoutMs: number;
  /** Idle keep-alive connections are closed after this, ms; an upstream's `Keep-Alive: timeout=N` may shorten it. */
  keepAliveTimeoutMs: number;
  /** Connections to the origin at most; 0 means no limit. Requests beyond it wait in order. */
  connections: number;
}

/** What receives one response. Return values steer the connection, as with node:stream's `write`. */
export interface ResponseHandler {
  /**
   * The final response head (1xx are skipped), hop-by-hop headers removed. `length`: the body's exact length
   * (its Content-Length, 0 when it has none by rule), or -1 when it is chunked or runs to the connection's end.
   * false: the handler gave up. `head` is the parsed head itself, shared by the responses that had the same
   * head text: a handler may keep its own serialisation of it there (`clientHead`).
   */
  onHeaders(status: number, headers: string[], length: number, head: ResponseHead): boolean;
  /**
   * A body chunk: a slice of the buffer the upstream socket reads into, valid only until this returns (the next
   * read overwrites it). A handler that keeps it, or writes it where it may wait in a queue, copies it first.
   * false: pause until `resume()`.
   */
  onData(chunk: Buffer): boolean;
  onComplete(): void;
  /** Once, instead of onComplete, with the reason; after `abort(err)` with that err. */
  onError(err: Error): void;
}

/** The longest response head (status line and headers) accepted, bytes. */
export const MAX_RESPONSE_HEAD = 64 * 1024;
/** The longest chunk-size line (with extensions) or trailer section accepted, bytes. */
const MAX_CHUNK_LINE = 4096;

const CRLF2 = Buffer.from('\r\n\r\n');

// Parser states.
const IDLE = 0;
const HEAD = 1;
const LENGTH = 2;
const CHUNK_SIZE = 3;
const CHUNK_DATA = 4;
const CHUNK_CRLF = 5;
const TRAILERS = 6;
const UNTIL_CLOSE = 7;

/**
 * A request head as written upstream: request line, headers and the final CRLF, in one latin1 string. Built once
 * per request by `dispatch`, or once per distinct head by a caller that sees the same head again and again (the
 * fast path, for the requests of one keep-alive connection).
 */
export class RequestHeadText {
  readonly text: string;
  /** `text` without its final empty line: per-request header lines (X-Request-Id) go after it. */
  readonly open: string;
  /** The body goes out chunked: the request has one but no Content-Length. */
  readonly chunked: boolean;

  constructor(method: string, path: string, headers: readonly string[], hasBody: boolean) {
    let text = `${method} ${path} HTTP/1.1\r\n`;
    let hasLength = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (name.length === 14 && !hasLength && name.toLowerCase() === 'content-length') hasLength = true;
      text += `${name}: ${headers[i + 1]}\r\n`;
    }
    this.chunked = hasBody && !hasLength;
    if (this.chunked) text += 'transfer-encoding: chunked\r\n';
    this.open = text;
    this.text = `${text}\r\n`;
  }

  /**
   * A head whose text the caller built itself: `open` is the request line and header lines, each ending in CRLF,
   * framing included (the fast path copies the client's lines, see inbound/fast-path.ts).
   */
  static of(open: string): RequestHeadText {
    const head = Object.create(RequestHeadText.prototype) as {
      -readonly [K in keyof RequestHeadText]: RequestHeadText[K];
    };
    head.text = `${open}\r\n`;
    head.open = open;
    head.chunked = false;
    return head as RequestHeadText;
  }
}

/** One request on its way: queued, then on a connection until it completes or fails. */
class Exchange {
  readonly client: UpstreamClient;
  readonly method: string;
  readonly head: RequestHeadText;
  /** Header lines of this request alone, each ending in CRLF, written after `head` ('' for none). */
  readonly extra: string;
  readonly body: RequestBody | null;
  readonly handler: ResponseHandler;
  conn: Connection | null = null;
  done = false;
  /** It went out on a connection that had served a request before: a stale keep-alive socket may have failed it. */
  reused = false;

  constructor(
    client: UpstreamClient,
    method: string,
    head: RequestHeadText,
    body: RequestBody | null,
    handler: ResponseHandler,
    extra: string,
  ) {
    this.client = client;
    this.method = method;
    this.head = head;
    this.extra = extra;
    this.body = body;
    this.handler = handler;
  }

  /** Stops the exchange: handler.onError(err) once, the connection (if any) closed. No-op once it ended. */
  abort(err: Error): void {
    if (this.done) return;
    const conn = this.conn;
    if (conn === null) {
      this.client.unqueue(this);
      this.done = true;
      this.handler.onError(err);
    } else {
      conn.fail(err);
    }
  }

  /** Reading the upstream resumes after the handler's onData returned false. */
  resume(): void {
    if (!this.done) this.conn?.socket.resume();
  }
}

export type UpstreamCall = Pick<Exchange, 'abort' | 'resume' | 'reused'>;

/** Pumps a request body into the connection, with backpressure both ways and chunked framing when needed. */
class BodyPump implements BodySink {
  readonly conn: Connection;
  readonly body: RequestBody;
  readonly chunked: boolean;
  ended = false;

  constructor(conn: Connection, body: RequestBody, chunked: boolean) {
    this.conn = conn;
    this.body = body;
    this.chunked = chunked;
  }

  start(): void {
    this.conn.socket.on('drain', this.onDrain);
    this.body.attach(this);
  }

  data(chunk: Buffer): void {
    if (chunk.length === 0 || this.ended) return;
    const socket = this.conn.socket;
    let ok: boolean;
    if (this.chunked) {
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      ok = socket.write('\r\n', 'latin1');
      socket.uncork();
    } else {
      ok = socket.write(chunk);
    }
    // write() says false for any chunk above the socket's high-water mark, even when the kernel took all of it
    // at once; pausing then would stop and restart reading the client for every chunk of a large body. Only
    // what is really left in the socket's buffer is backpressure.
    if (!ok && socket.writableLength > 0) this.body.pause();
  }

  onDrain = (): void => {
    if (!this.ended) this.body.resume();
  };

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.chunked) this.conn.socket.write('0\r\n\r\n', 'latin1');
    this.conn.bodySent();
  }

  /** The body stream failed or closed before its end: the request cannot be completed. */
  gone(): void {
    if (this.ended) return;
    this.ended = true;
    this.conn.fail(new RequestBodyError());
  }

  detach(): void {
    this.ended = true;
    this.body.detach();
    this.conn.socket.off('drain', this.onDrain);
  }
}

/**
 * Where every plain upstream socket reads into (net's `onread`): one buffer for all of them. Node's default reads
 * allocate a 64 KB buffer per read, trim it to the bytes read and leave it to the GC, and hand it over through
 * the Readable stream's push, 'data' event and nextTick bookkeeping; a response is read here and passed on (or
 * copied) before the callback returns, so one buffer serves every connection in turn. What a handler keeps of a
 * chunk, it copies (ResponseHandler.onData). TLS sockets read the usual way.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
const kConnection = Symbol('nodix.upstreamConnection');
type UpstreamSocket = Socket & { [kConnection]: Connection };

/** The connections' LazyTimeout callbacks: module-level, no closure per connection. */
function headersTimedOut(conn: Connection): void {
  conn.onHeadersTimeout();
}

function idleTimedOut(conn: Connection): void {
  conn.onIdleTimeout();
}

// hot path: every read of a plain upstream socket.
function onUpstreamRead(this: Socket, nread: number): boolean {
  (this as UpstreamSocket)[kConnection].onData(READ_BUFFER.subarray(0, nread));
  // Reading stops through socket.pause() (Connection.deliver), which resume() undoes; false here would not be.
  return true;
}

/** One socket to the origin and the state of the response being read from it. */
class Connection {
  readonly client: UpstreamClient;
  readonly socket: Socket;
  exchange: Exchange | null = null;
  connected = false;
  closed = false;
  /** Requests completed on this connection. */
  served = 0;
  idleSince = 0;
  idleLimitMs: number;

  // Response state.
  state = IDLE;
  head: Buffer | null = null;
  /** Body bytes left (LENGTH, CHUNK_DATA), or CRLF bytes left (CHUNK_CRLF). */
  remaining = 0;
  line = '';
  keepAlive = true;
  headRequest = false;
  bodyDone = true;
  pump: BodyPump | null = null;

  connectTimer: NodeJS.Timeout | null = null;
  readonly headersTimer = new LazyTimeout<Connection>(headersTimedOut, this);
  bodyTimer: NodeJS.Timeout | null = null;
  readonly idleTimer = new LazyTimeout<Connection>(idleTimedOut, this);

  constructor(client: UpstreamClient) {
    this.client = client;
    this.idleLimitMs = client.settings.keepAliveTimeoutMs;
    const target = client.target;
    const socket = target.secure
      ? tlsConnect({
          host: target.host,
          port: target.port,
          servername: isIP(target.host) === 0 ? target.host : undefined,
          ALPNProtocols: ['http/1.1'],
        })
      : netConnect({
          host: target.host,
          port: target.port,
          noDelay: true,
          onread: { buffer: READ_BUFFER, callback: onUpstreamRead },
        });
    this.socket = socket;
    (socket as UpstreamSocket)[kConnection] = this;
    if (target.secure) {
      socket.setNoDelay(true);
      socket.on('data', this.onData);
    }
    socket.on(target.secure ? 'secureConnect' : 'connect', this.onConnect);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    this.connectTimer = setTimeout(this.onConnectTimeout, client.settings.connectTimeoutMs);
    this.connectTimer.unref();
  }

  /** Starts `exchange` on this connection (connected or not: the head is buffered until it is). */
  run(exchange: Exchange): void {
    this.exchange = exchange;
    exchange.conn = this;
    exchange.reused = this.served > 0;
    this.state = HEAD;
    this.head = null;
    this.keepAlive = true;
    this.headRequest = exchange.method === 'HEAD';

    const head = exchange.head;
    const body = exchange.body;
    const headText = exchange.extra === '' ? head.text : `${head.open}${exchange.extra}\r\n`;
    if (body === null) {
      this.bodyDone = true;
      this.socket.write(headText, 'latin1');
    } else {
      this.bodyDone = false;
      const pump = new BodyPump(this, body, head.chunked);
      this.pump = pump;
      // The head and whatever of the body is at hand leave in one write.
      this.socket.cork();
      this.socket.write(headText, 'latin1');
      pump.start();
      this.socket.uncork();
    }

    if (body === null) this.startHeadersTimer();
  }

  /**
   * The upstream headers timeout runs from the moment the whole request was sent (nginx's proxy_read_timeout
   * counts from the last write too): while a client is still uploading, the upstream is not late. A slow client
   * is the client-side request timeout's business.
   */
  startHeadersTimer(): void {
    this.headersTimer.start(performance.now(), this.client.settings.headersTimeoutMs);
  }

  bodySent(): void {
    this.bodyDone = true;
    if (this.pump !== null) {
      this.pump.detach();
      this.pump = null;
    }
    if (this.state === HEAD) this.startHeadersTimer();
  }

  onConnect = (): void => {
    this.connected = true;
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
  };

  onConnectTimeout = (): void => {
    this.connectTimer = null;
    if (this.connected || this.closed) return;
    this.fail(new UpstreamConnectTimeoutError(this.client.settings.connectTimeoutMs));
  };

  onHeadersTimeout = (): void => {
    // A timer left from an earlier exchange may fire while this one's body is still being sent: not yet due.
    if (this.state !== HEAD || this.exchange === null || !this.bodyDone) return;
    this.fail(new UpstreamHeadersTimeoutError(this.client.settings.headersTimeoutMs));
  };

  onBodyTimeout = (): void => {
    if (this.state <= HEAD || this.exchange === null) return;
    this.fail(new UpstreamBodyTimeoutError(this.client.settings.bodyTimeoutMs));
  };

  onIdleTimeout = (): void => {
    if (this.exchange === null) this.destroy();
  };

  // hot path: every read from the upstream.
  onData = (data: Buffer): void => {
    if (this.exchange === null) {
      // Nothing was asked: an upstream talking out of turn cannot be trusted with the next request.
      this.destroy();
      return;
    }
    let offset = 0;
    if (this.state === HEAD) {
      offset = this.readHead(data);
      if (offset < 0) return;
    }
    if (this.state !== UNTIL_CLOSE && this.state !== LENGTH) {
      this.readChunked(data, offset);
      return;
    }
    const available = data.length - offset;
    // The body silence timeout runs while more of the body is to come, from the last read that carried some (or
    // the head); a body that ends in the read that carried its head (most small responses) never starts it.
    if (available === 0) {
      this.armBodyTimer();
      return;
    }
    if (this.state === UNTIL_CLOSE) {
      this.armBodyTimer();
      this.deliver(offset === 0 ? data : data.subarray(offset));
      return;
    }
    const remaining = this.remaining;
    if (available < remaining) {
      this.remaining = remaining - available;
      this.armBodyTimer();
      this.deliver(offset === 0 ? data : data.subarray(offset));
      return;
    }
    if (remaining > 0) this.deliver(data.subarray(offset, offset + remaining));
    if (this.exchange !== null) this.complete(available > remaining);
  };

  /** (Re)starts the body silence timeout: more of the body is to come. */
  armBodyTimer(): void {
    if (this.bodyTimer === null) {
      this.bodyTimer = setTimeout(this.onBodyTimeout, this.client.settings.bodyTimeoutMs);
      this.bodyTimer.unref();
    } else {
      this.bodyTimer.refresh();
    }
  }

  deliver(chunk: Buffer): void {
    if (!this.exchange!.handler.onData(chunk)) this.socket.pause();
  }

  /**
   * Accumulates and parses the response head. Returns the offset of the first body byte in `data`, or -1 when
   * the head is not complete yet, the exchange failed, or the response ended with its head.
   */
  readHead(data: Buffer): number {
    let buffer = data;
    /** Where `data` starts in `buffer`: after an earlier read's incomplete head, or before `buffer` (< 0) once
     * interim (1xx) heads were cut off the front. */
    let dataStart = 0;
    let owned = false;
    let from = 0;
    if (this.head !== null) {
      dataStart = this.head.length;
      from = Math.max(0, dataStart - 3);
      buffer = Buffer.concat([this.head, data]);
      owned = true;
      this.head = null;
    }
    for (;;) {
      const end = buffer.indexOf(CRLF2, from);
      if (end === -1) {
        if (buffer.length > MAX_RESPONSE_HEAD) {
          this.fail(this.badResponse(`a response head larger than ${MAX_RESPONSE_HEAD} bytes`));
          return -1;
        }
        // Copied unless it already is: the read buffer is the socket's to reuse.
        this.head = owned ? buffer : Buffer.from(buffer);
        return -1;
      }
      if (end > MAX_RESPONSE_HEAD) {
        this.fail(this.badResponse(`a response head larger than ${MAX_RESPONSE_HEAD} bytes`));
        return -1;
      }
      const status = this.parseHead(buffer.toString('latin1', 0, end));
      if (status === 0) return -1;
      const bodyStart = end + 4;
      if (status >= 200) {
        const consumed = bodyStart - dataStart;
        if (this.state === IDLE) {
          // No body (HEAD, 204, 304, Content-Length: 0): the exchange is over.
          if (this.exchange !== null) this.complete(consumed < data.length);
          return -1;
        }
        return consumed;
      }
      // 1xx: an interim answer; the real one follows in this read or a later one.
      buffer = buffer.subarray(bodyStart);
      dataStart -= bodyStart;
      from = 0;
      if (buffer.length === 0) return -1;
    }
  }

  /**
   * Parses one head (without its final CRLF CRLF) and hands a final one to the handler; 0 when it failed.
   *
   * hot path: an origin answers most requests with the same head but for its Date, so the client remembers the
   * last final head it parsed and its result (`UpstreamClient.lastHead`): the same text again costs one string
   * comparison instead of a parse.
   */
  parseHead(text: string): number {
    const client = this.client;
    let head = client.lastHead;
    if (head === null || client.lastHeadText !== text) {
      const parsed = parseResponseHead(text);
      if (typeof parsed === 'string') {
        this.fail(this.badResponse(parsed));
        return 0;
      }
      head = parsed;
      if (head.status < 200) return head.status;
      client.lastHeadText = text;
      client.lastHead = head;
    }
    const status = head.status;
    this.keepAlive = head.keepAlive;
    if (head.idleLimitMs !== -1)
      this.idleLimitMs = Math.max(0, Math.min(client.settings.keepAliveTimeoutMs, head.idleLimitMs));

    const length = head.length;
    if (this.headRequest || status === 204 || status === 304 || length === 0) {
      this.state = IDLE;
      if (length > 0 && !this.headRequest && status !== 304) {
        // 204 with a body length: nothing is read for it, so nothing more can be trusted on this socket.
        this.keepAlive = false;
      }
    } else if (head.chunked) {
      this.state = CHUNK_SIZE;
      this.line = '';
    } else if (length > 0) {
      this.state = LENGTH;
      this.remaining = length;
    } else {
      this.state = UNTIL_CLOSE;
      this.keepAlive = false;
    }

    const bodyLength = this.state === IDLE ? 0 : this.state === LENGTH ? length : -1;
    if (!this.exchange!.handler.onHeaders(status, head.headers, bodyLength, head)) {
      // The handler could not use the head (node:http refused a header): it failed, so does the exchange.
      if (this.exchange !== null) this.fail(this.badResponse('a response head the client side refused'));
      return 0;
    }
    return this.exchange === null ? 0 : status;
  }

  /** Walks chunked framing from `offset`, handing data to the handler as slices. */
  readChunked(data: Buffer, offset: number): void {
    if (this.state !== IDLE) this.armBodyTimer();
    let i = offset;
    while (i < data.length && this.exchange !== null) {
      switch (this.state) {
        case CHUNK_SIZE:
        case TRAILERS: {
          const lf = data.indexOf(0x0a, i);
          const end = lf === -1 ? data.length : lf + 1;
          this.line += data.toString('latin1', i, end);
          i = end;
          if (this.line.length > MAX_CHUNK_LINE) {
            this.fail(this.badResponse('a chunk-size line or trailer section too long'));
            return;
          }
          if (lf === -1) return;
          if (this.state === CHUNK_SIZE) {
            const size = parseChunkSize(this.line);
            this.line = '';
            if (size < 0) {
              this.fail(this.badResponse('an invalid chunk size'));
              return;
            }
            if (size === 0) {
              this.state = TRAILERS;
            } else {
              this.state = CHUNK_DATA;
              this.remaining = size;
            }
          } else if (this.line.endsWith('\r\n\r\n') || this.line === '\r\n') {
            // End of the trailer section (trailers are dropped, see inbound/node-path.ts).
            this.line = '';
            this.complete(i < data.length);
            return;
          } else if (!this.line.endsWith('\r\n')) {
            this.fail(this.badResponse('a trailer line not ended by CRLF'));
            return;
          }
          break;
        }
        case CHUNK_DATA: {
          const take = Math.min(this.remaining, data.length - i);
          this.remaining -= take;
          const chunk = i === 0 && take === data.length ? data : data.subarray(i, i + take);
          i += take;
          if (this.remaining === 0) {
            this.state = CHUNK_CRLF;
            this.remaining = 2;
          }
          this.deliver(chunk);
          break;
        }
        case CHUNK_CRLF: {
          const expected = this.remaining === 2 ? 0x0d : 0x0a;
          if (data[i] !== expected) {
            this.fail(this.badResponse('chunk data not followed by CRLF'));
            return;
          }
          i++;
          if (--this.remaining === 0) this.state = CHUNK_SIZE;
          break;
        }
        default:
          return;
      }
    }
  }

  badResponse(what: string): UpstreamBadResponseError {
    return new UpstreamBadResponseError(what);
  }

  /** The response ended. `extra`: bytes followed it, which nothing asked for. */
  complete(extra: boolean): void {
    const exchange = this.exchange!;
    const reusable = this.keepAlive && this.bodyDone && !extra && !this.closed;
    this.detach(exchange);
    this.served++;
    exchange.handler.onComplete();
    if (reusable) this.client.release(this);
    else this.destroy();
  }

  /** Ends the current exchange with `err` (if there is one) and closes the connection. */
  fail(err: Error): void {
    const exchange = this.exchange;
    this.destroy();
    if (exchange === null) return;
    this.detach(exchange);
    exchange.handler.onError(err);
  }

  detach(exchange: Exchange): void {
    exchange.done = true;
    exchange.conn = null;
    this.exchange = null;
    this.state = IDLE;
    if (this.pump !== null) {
      this.pump.detach();
      this.pump = null;
    }
    if (this.socket.isPaused()) this.socket.resume();
  }

  goIdle(): void {
    const now = performance.now();
    this.idleSince = now;
    this.idleTimer.start(now, this.idleLimitMs);
  }

  /** Usable for a new request: open, and not idle past its limit (the upstream may be closing it right now). */
  fresh(now: number): boolean {
    return !this.closed && now - this.idleSince < this.idleLimitMs;
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.clearTimers();
    this.client.forget(this);
  }

  clearTimers(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.headersTimer.clear();
    if (this.bodyTimer !== null) clearTimeout(this.bodyTimer);
    this.idleTimer.clear();
  }

  onEnd = (): void => {
    if (this.exchange !== null && this.state === UNTIL_CLOSE) {
      this.complete(false);
      return;
    }
    this.fail(this.closedEarly());
  };

  onError = (err: Error): void => {
    this.fail(upstreamSocketFailure(err));
  };

  onClose = (): void => {
    this.fail(this.closedEarly());
  };

  closedEarly(): UpstreamClosedError {
    return new UpstreamClosedError(
      this.state === HEAD
        ? 'the upstream closed the connection before answering'
        : 'the upstream closed the connection mid-response',
    );
  }
}

/** A response head as parsed from its text: what the connection needs to read the body, and what it forwards. */
export interface ResponseHead {
  status: number;
  /** Headers to forward, flat [name, value, ...], hop-by-hop ones removed. Shared by the responses of one head:
   * read-only. */
  headers: string[];
  /** Content-Length, or -1 when it has none. */
  length: number;
  chunked: boolean;
  /** The connection may carry another request after this response. */
  keepAlive: boolean;
  /** From `Keep-Alive: timeout=N`: idle connections go a second before the upstream closes them; -1: no hint. */
  idleLimitMs: number;
  /** The fast path's status line and header lines for its client, built at its first use (fast-path.ts). */
  clientHead: string | null;
  /** `headers` has a Date. */
  clientHeadHasDate: boolean;
}

/**
 * Reads one response head (status line and headers, without the final CRLF CRLF), strictly: a malformed status
 * line or header line, a bad or conflicting Content-Length, both Content-Length and Transfer-Encoding, or a 101
 * nobody asked for. Returns what is wrong (a phrase for "the upstream sent ...") instead of a head.
 */
export function parseResponseHead(text: string): ResponseHead | string {
  let lineEnd = text.indexOf('\r\n');
  if (lineEnd === -1) lineEnd = text.length;
  const statusLine = text.slice(0, lineEnd);
  // "HTTP/1.1 200 OK": version, one space, three digits, then a space and a reason or nothing.
  if (
    statusLine.length < 12 ||
    !statusLine.startsWith('HTTP/1.') ||
    (statusLine.charCodeAt(7) !== 0x31 && statusLine.charCodeAt(7) !== 0x30) ||
    statusLine.charCodeAt(8) !== 0x20 ||
    (statusLine.length > 12 && statusLine.charCodeAt(12) !== 0x20)
  ) {
    return `a malformed status line ${JSON.stringify(statusLine.slice(0, 64))}`;
  }
  const status = Number(statusLine.slice(9, 12));
  if (!Number.isInteger(status) || status < 100 || statusLine.charCodeAt(9) === 0x2b) {
    return `a malformed status line ${JSON.stringify(statusLine.slice(0, 64))}`;
  }
  const http10 = statusLine.charCodeAt(7) === 0x30;
  if (status === 101) return '101 Switching Protocols to a request that asked for no upgrade';

  const length0 = text.length;
  if (lineEnd < length0) {
    // hot path: every header line checked at once (headerColon's rule); a head that ends in CRLF has an empty
    // last line, which is no header line either.
    HEADER_LINES.lastIndex = lineEnd + 2;
    HEADER_LINES.test(text);
    const good = HEADER_LINES.lastIndex;
    if (good !== length0 || text.charCodeAt(length0 - 1) === 0x0a) {
      const from = good === length0 ? length0 : good;
      const end = text.indexOf('\r\n', from);
      const line = text.slice(from, end === -1 ? length0 : end);
      return `a malformed header line ${JSON.stringify(line.slice(0, 64))}`;
    }
  }

  const out: string[] = [];
  let length = -1;
  let chunked = false;
  let transferEncoding = false;
  let connection: string | undefined;
  let keepAliveHint: string | undefined;
  let pos = lineEnd + 2;
  while (pos < length0) {
    let end = text.indexOf('\r\n', pos);
    if (end === -1) end = length0;
    // The name has no colon (HEADER_LINES), so the line's first colon ends it.
    const colon = text.indexOf(':', pos);
    const name = text.slice(pos, colon);
    const value = trimOws(text.slice(colon + 1, end));
    pos = end + 2;
    const kind = headerKind(name);
    if (kind === HOP) {
      if (name.length === 10 && name.toLowerCase() === 'keep-alive') keepAliveHint = value;
      continue;
    }
    if (kind === CONNECTION) {
      connection = connection === undefined ? value : `${connection}, ${value}`;
      continue;
    }
    if (kind === TRANSFER_ENCODING) {
      transferEncoding = true;
      // The last coding decides: chunked framing, or (anything else) the body runs to the connection's end.
      const last = trimOws(value.slice(value.lastIndexOf(',') + 1));
      chunked = last.length === 7 && last.toLowerCase() === 'chunked';
      continue;
    }
    if (kind === UPGRADE) continue;
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      const parsed = parseContentLength(value);
      if (parsed < 0 || (length !== -1 && parsed !== length))
        return `an invalid or conflicting Content-Length ${JSON.stringify(value)}`;
      length = parsed;
    }
    out.push(name, value);
  }
  if (transferEncoding && length !== -1) return 'both Transfer-Encoding and Content-Length';

  let headers = out;
  let keepAlive = !http10;
  // `Connection: keep-alive`, what nearly every keep-alive origin sends, keeps the defaults above (HTTP/1.0 says
  // it wants to keep alive) and names no header to drop.
  if (connection === 'keep-alive') keepAlive = true;
  else if (connection !== undefined) {
    const lower = connection.toLowerCase();
    if (lower.includes('close')) keepAlive = !/(^|[\s,])close([\s,]|$)/.test(lower);
    else if (http10) keepAlive = /(^|[\s,])keep-alive([\s,]|$)/.test(lower);
    const tokens = connectionTokens(connection);
    if (tokens !== null) headers = dropNamed(out, tokens);
  }
  return {
    status,
    headers,
    length,
    chunked,
    keepAlive,
    idleLimitMs: idleLimit(keepAliveHint),
    clientHead: null,
    clientHeadHasDate: false,
  };
}

/** `Keep-Alive: timeout=5`: the upstream closes idle connections after 5 s, so ours go idle a second earlier. */
function idleLimit(hint: string | undefined): number {
  if (hint === undefined) return -1;
  // An origin sends the same hint with every response: read once (a handful of distinct hints at most).
  let limit = IDLE_LIMITS.get(hint);
  if (limit === undefined) {
    const match = /(?:^|[\s,])timeout\s*=\s*(\d+)/i.exec(hint);
    limit = match === null ? -1 : Math.max(0, Number(match[1]) * 1000 - 1000);
    if (IDLE_LIMITS.size < 64) IDLE_LIMITS.set(hint, limit);
  }
  return limit;
}
const IDLE_LIMITS = new Map<string, number>();

/** `1a2b;ext=1\r\n` → 0x1a2b; -1 when malformed (no digits, too many, not ended by CRLF). */
function parseChunkSize(line: string): number {
  if (!line.endsWith('\r\n')) return -1;
  let size = 0;
  let digits = 0;
  let i = 0;
  for (; i < line.length - 2; i++) {
    const c = line.charCodeAt(i);
    const d =
      c >= 0x30 && c <= 0x39
        ? c - 0x30
        : c >= 0x61 && c <= 0x66
          ? c - 0x57
          : c >= 0x41 && c <= 0x46
            ? c - 0x37
            : -1;
    if (d === -1) break;
    if (++digits > 12) return -1;
    size = size * 16 + d;
  }
  if (digits === 0) return -1;
  // What may follow the digits: whitespace and chunk extensions (ignored), nothing else.
  for (; i < line.length - 2; i++) {
    const c = line.charCodeAt(i);
    if (c === 0x3b /* ; */) return size;
    if (c !== 0x20 && c !== 0x09) return -1;
  }
  return size;
}

/** Keep-alive connections to one origin (`http://host:port` or `https://...`). */
export class UpstreamClient {
  readonly origin: string;
  readonly settings: UpstreamSettings;
  readonly target: { host: string; port: number; secure: boolean };
  /** Idle connections, most recently used last (reused first: warm, and the others can time out). */
  readonly #idle: Connection[] = [];
  readonly #queue: Exchange[] = [];
  #queueHead = 0;
  /** Open connections: connecting, busy and idle. */
  readonly #all = new Set<Connection>();
  #closing = false;
  #destroyed = false;
  /** The last final response head parsed by any connection of this client, and its text (see parseHead). */
  lastHeadText = '';
  lastHead: ResponseHead | null = null;
  #closed: (() => void) | null = null;

  constructor(origin: string, settings: UpstreamSettings) {
    const url = new URL(origin);
    const secure = url.protocol === 'https:';
    this.origin = origin;
    this.settings = settings;
    this.target = {
      host: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
      port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
      secure,
    };
  }

  /** Sends one request. The returned call aborts it or resumes a paused response. */
  dispatch(
    method: string,
    path: string,
    headers: readonly string[],
    body: RequestBody | null,
    handler: ResponseHandler,
  ): UpstreamCall {
    return this.send(method, new RequestHeadText(method, path, headers, body !== null), body, handler);
  }

  /** Sends one request whose head was built before (see RequestHeadText). */
  send(
    method: string,
    head: RequestHeadText,
    body: RequestBody | null,
    handler: ResponseHandler,
    extra = '',
  ): UpstreamCall {
    const exchange = new Exchange(this, method, head, body, handler, extra);
    if (this.#destroyed) {
      exchange.done = true;
      queueMicrotask(() => handler.onError(new UpstreamClientClosedError()));
      return exchange;
    }
    const conn = this.#take();
    if (conn !== null) conn.run(exchange);
    else this.#queue.push(exchange);
    return exchange;
  }

  /** An idle connection, a new one, or null when the connection limit is reached. */
  #take(): Connection | null {
    const idle = this.#idle;
    if (idle.length > 0) {
      const now = performance.now();
      while (idle.length > 0) {
        const conn = idle.pop()!;
        if (conn.fresh(now)) return conn;
        conn.destroy();
      }
    }
    const limit = this.settings.connections;
    if (limit !== 0 && this.#all.size >= limit) return null;
    return this.#connect();
  }

  #connect(): Connection {
    const conn = new Connection(this);
    this.#all.add(conn);
    return conn;
  }

  /** A connection finished its exchange and can take another. */
  release(conn: Connection): void {
    const next = this.#dequeue();
    if (next !== null) {
      conn.run(next);
      return;
    }
    if (this.#closing) {
      conn.destroy();
      return;
    }
    conn.goIdle();
    this.#idle.push(conn);
  }

  /** A connection closed; queued exchanges get a new one if the limit allows. */
  forget(conn: Connection): void {
    this.#all.delete(conn);
    const index = this.#idle.lastIndexOf(conn);
    if (index !== -1) this.#idle.splice(index, 1);
    while (this.#queue.length > this.#queueHead) {
      const limit = this.settings.connections;
      if (this.#destroyed || (limit !== 0 && this.#all.size >= limit)) break;
      const next = this.#dequeue();
      if (next === null) break;
      this.#connect().run(next);
    }
    this.#maybeClosed();
  }

  #dequeue(): Exchange | null {
    const queue = this.#queue;
    if (this.#queueHead >= queue.length) return null;
    const next = queue[this.#queueHead]!;
    queue[this.#queueHead++] = undefined as unknown as Exchange;
    if (this.#queueHead === queue.length) {
      queue.length = 0;
      this.#queueHead = 0;
    }
    return next;
  }

  unqueue(exchange: Exchange): void {
    const index = this.#queue.indexOf(exchange, this.#queueHead);
    if (index !== -1) this.#queue.splice(index, 1);
    this.#maybeClosed();
  }

  /** Requests on connections or waiting for one. */
  get pending(): number {
    return this.#queue.length - this.#queueHead + this.#all.size - this.#idle.length;
  }

  get openConnections(): number {
    return this.#all.size;
  }

  #maybeClosed(): void {
    if (this.#closed !== null && this.#all.size === 0 && this.#queue.length === this.#queueHead) {
      const done = this.#closed;
      this.#closed = () => {};
      done();
    }
  }

  /** Graceful: queued and running exchanges finish, idle connections close now, the rest when they finish. */
  close(): Promise<void> {
    this.#closing = true;
    for (const conn of [...this.#idle]) conn.destroy();
    return new Promise((resolve) => {
      this.#closed = resolve;
      this.#maybeClosed();
    });
  }

  /** Everything stops now: queued and running exchanges fail with NODIX_ERR_CLIENT_CLOSED. */
  destroy(): Promise<void> {
    this.#destroyed = true;
    const closed = this.close();
    const err = () => new UpstreamClientClosedError();
    for (let next = this.#dequeue(); next !== null; next = this.#dequeue()) {
      next.done = true;
      next.handler.onError(err());
    }
    for (const conn of [...this.#all]) {
      if (conn.exchange !== null) conn.fail(err());
      else conn.destroy();
    }
    this.#maybeClosed();
    return closed;
  }
}
