/**
 * HTTP/2's fast path: the proxy's own HTTP/2 server (RFC 9113) on a TLS socket that negotiated ALPN `h2`, doing
 * for HTTP/2 what fast-path.ts does for HTTP/1.1.
 *
 * Why: with node:http2 (h2.ts, still the path with `fastPath: false`) a stream costs about three times what
 * nginx spends on it, and almost none of that is ours: an Http2Stream Duplex per request, header objects built
 * and taken apart again, nextTicks and one TLS write per response. Here a stream is one object (`FastStream`:
 * the HTTP/2 stream, the routed request, the upstream attempt and the access-log record at once), header lists
 * are flat arrays read straight out of HPACK (http2/hpack.ts), and every frame of one event-loop turn leaves in
 * one TLS write per connection.
 *
 * What it is: frames are read as they come (a frame split over reads waits in `pending`); the connection
 * preface, SETTINGS (and their ACK), PING, GOAWAY both ways, WINDOW_UPDATE, RST_STREAM and PRIORITY (read,
 * ignored), HEADERS with CONTINUATION, PADDED and PRIORITY flags, trailers (read, not forwarded: as h2.ts), and
 * DATA with flow control both ways. Every error RFC 9113 names is a connection error (GOAWAY with its code,
 * then the socket ends) or a stream error (RST_STREAM) as §5.4 says; a malformed request (§8.1.1: uppercase or
 * invalid field names, a pseudo-header that is unknown, repeated, missing or after a regular field, a
 * connection-specific field, `te` other than `trailers`, CR/LF/NUL or surrounding white space in a value, a
 * body that does not match its content-length) is a stream error PROTOCOL_ERROR.
 *
 * Requests take the same route as on every other path: readH2Head (h2.ts) turns the header list into a head,
 * routeRequest decides, the upstream attempt, retry, error pages, request ids, access log and metrics are the
 * shared ones (forwarded-request.ts).
 *
 * Limits, as h2.ts has them from node:http2: SETTINGS_MAX_CONCURRENT_STREAMS (a stream past it is refused,
 * REFUSED_STREAM), SETTINGS_INITIAL_WINDOW_SIZE (request body a stream may hold unread), the header list size
 * (a larger list is answered 431 after it was decoded, which keeps HPACK in step), the session memory (request
 * body and response bytes held; past it new streams get ENHANCE_YOUR_CALM). Floods end the connection with
 * ENHANCE_YOUR_CALM: streams the client resets before their response (rapid reset, CVE-2023-44487), or that
 * only earn a RST_STREAM (refused, malformed: the reset flood, CVE-2019-9514), header blocks that grow without
 * end (CONTINUATION flood), empty DATA/CONTINUATION frames and bad PRIORITY frames, and control frames (PING,
 * SETTINGS) answered faster than the client reads.
 *
 * Flow control: a response's DATA waits for the client's windows (the stream's and the connection's); while it
 * waits, or while the socket is full, the upstream socket is paused. A request body is credited back to the
 * client's stream window only when the upstream took it: a slow upstream slows the client, not the proxy's
 * memory. The connection window is credited as DATA arrives (the stream windows bound what is held).
 *
 * hot path — change with care: per stream one object and the flat header arrays; per connection and event-loop
 * turn one output buffer and one write.
 */
import type { TLSSocket } from 'node:tls';
import { type ErrorStatus, errorPageHeaders, httpDate } from '../http/error-pages.js';
import {
  addForwardedHeaders,
  CONNECTION,
  HOP,
  headerKind,
  type Peer,
  parseContentLength,
  peerOf,
  TRANSFER_ENCODING,
  trustedRequestId,
  UPGRADE,
} from '../http/headers.js';
import {
  encodeStatus,
  fieldLength,
  HpackDecoder,
  HpackError,
  writeField,
  writeTableSizeUpdate,
} from '../http2/hpack.js';
import { LazyTimeout } from '../lazy-timeout.js';
import type { H2Settings } from '../lifecycle/config.js';
import { nextRequestId } from '../observe/request-id.js';
import { settleAttempt, startAttempt } from '../upstream/attempt.js';
import { RequestHeadText } from '../upstream/client.js';
import { ForwardedRequest } from './forwarded-request.js';
import { type H2Handler, readH2Head } from './h2.js';
import type { ForwardContext } from './node-path.js';
import type { BodySink, RequestBody } from './request-body.js';
import { ACME_ANSWER, routeRequest } from './route.js';

// --- RFC 9113 numbers ---
const DATA = 0x0;
const HEADERS = 0x1;
const PRIORITY = 0x2;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PUSH_PROMISE = 0x5;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const CONTINUATION = 0x9;

const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;

const NO_ERROR = 0x0;
const PROTOCOL_ERROR = 0x1;
const INTERNAL_ERROR = 0x2;
const FLOW_CONTROL_ERROR = 0x3;
const STREAM_CLOSED = 0x5;
const FRAME_SIZE_ERROR = 0x6;
const REFUSED_STREAM = 0x7;
const COMPRESSION_ERROR = 0x9;
const ENHANCE_YOUR_CALM = 0xb;

const SETTINGS_HEADER_TABLE_SIZE = 0x1;
const SETTINGS_ENABLE_PUSH = 0x2;
const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const SETTINGS_MAX_FRAME_SIZE = 0x5;
const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const MAX_WINDOW = 0x7fffffff;
/** The largest frame this end reads (SETTINGS_MAX_FRAME_SIZE is not raised from the protocol's default). */
const MAX_FRAME = 16_384;
const DEFAULT_WINDOW = 65_535;
/** The connection's receive window: request bodies are bounded per stream, this only keeps DATA flowing. */
const CONNECTION_WINDOW = 1 << 24;

// --- flood limits (per connection) ---
/** Streams the client may reset before their response before the ratio below is looked at. */
const RESET_ALLOWANCE = 100;
/** Empty DATA (without END_STREAM) and CONTINUATION frames, and PRIORITY frames of a wrong length (each one a
 * RST_STREAM to write), a connection may send. */
const MAX_EMPTY_FRAMES = 1000;
/** Output the client has not read; past it, frames that only answer the client (PING, SETTINGS ACK) end it. */
const MAX_UNREAD_CONTROL = 1 << 20;

/** Output buffers are this large; a connection holds one only while it has output (see `flush`). */
const OUT_SIZE = 16_384;
/** DATA payloads this large or larger go out as their own buffer instead of being copied into the output. */
const DIRECT_DATA = 4096;

/** Connection-specific fields a request must not carry (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

/** Bytes a lowercase HTTP/2 field name may have: tchar (RFC 9110 §5.6.2) without uppercase letters. */
const NAME_CHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") NAME_CHAR[c.charCodeAt(0)] = 1;

/**
 * The HTTP/2 side of the proxy on its own frame code. Same arguments and handler as h2.ts's createH2Handler;
 * `maxHeaderSize` bounds the decoded header list (plus HPACK's 32 bytes per field, as there).
 */
export function createFastH2Handler(
  ctx: ForwardContext,
  settings: H2Settings,
  maxHeaderSize: number,
  idleMs: number,
  onInternalError: (err: unknown) => void,
): H2Handler {
  const server: H2Server = {
    ctx,
    settings,
    maxHeaderList: maxHeaderSize + 32 * 64,
    maxMemory: settings.maxSessionMemoryMb * 1024 * 1024,
    idleMs,
    onInternalError,
    connections: new Set(),
    settingsFrame: settingsFrame(settings, maxHeaderSize + 32 * 64),
  };
  return {
    handle(socket: TLSSocket): void {
      new H2Connection(server, socket);
    },
    close(): void {
      for (const conn of server.connections) conn.goAway(NO_ERROR, false);
    },
    destroy(): void {
      for (const conn of server.connections) conn.socket.destroy();
    },
    get sessions(): number {
      return server.connections.size;
    },
  };
}

interface H2Server {
  readonly ctx: ForwardContext;
  readonly settings: H2Settings;
  readonly maxHeaderList: number;
  readonly maxMemory: number;
  readonly idleMs: number;
  readonly onInternalError: (err: unknown) => void;
  readonly connections: Set<H2Connection>;
  /** This end's SETTINGS and the connection WINDOW_UPDATE, sent first on every connection. */
  readonly settingsFrame: Buffer;
}

function settingsFrame(settings: H2Settings, maxHeaderList: number): Buffer {
  const entries: [number, number][] = [
    [SETTINGS_MAX_CONCURRENT_STREAMS, settings.maxConcurrentStreams],
    [SETTINGS_INITIAL_WINDOW_SIZE, settings.initialWindowSize],
    [SETTINGS_MAX_HEADER_LIST_SIZE, maxHeaderList],
    [SETTINGS_ENABLE_PUSH, 0],
  ];
  const frame = Buffer.alloc(9 + entries.length * 6 + 13);
  writeFrameHeader(frame, 0, entries.length * 6, SETTINGS, 0, 0);
  let at = 9;
  for (const [id, value] of entries) {
    frame.writeUInt16BE(id, at);
    frame.writeUInt32BE(value, at + 2);
    at += 6;
  }
  writeFrameHeader(frame, at, 4, WINDOW_UPDATE, 0, 0);
  frame.writeUInt32BE(CONNECTION_WINDOW - DEFAULT_WINDOW, at + 9);
  return frame;
}

function writeFrameHeader(
  buf: Buffer,
  at: number,
  length: number,
  type: number,
  flags: number,
  id: number,
): void {
  buf[at] = length >>> 16;
  buf[at + 1] = (length >>> 8) & 0xff;
  buf[at + 2] = length & 0xff;
  buf[at + 3] = type;
  buf[at + 4] = flags;
  buf.writeUInt32BE(id, at + 5);
}

/** A connection error: GOAWAY with `code`, then the connection ends. */
class ConnectionError extends Error {
  constructor(readonly code: number) {
    super(`HTTP/2 connection error ${code}`);
  }
}

// --- output batching: connections with output are written once per event-loop turn ---
let dirty: H2Connection[] = [];
let flushScheduled = false;
function flushAll(): void {
  flushScheduled = false;
  const list = dirty;
  dirty = [];
  for (let i = 0; i < list.length; i++) list[i]!.flush();
}
/** Output buffers no connection holds, reused. */
const spareOut: Buffer[] = [];

function idleTimeout(conn: H2Connection): void {
  if (conn.streams.size === 0) conn.goAway(NO_ERROR, false);
}

export class H2Connection {
  readonly server: H2Server;
  readonly socket: TLSSocket;
  readonly peer: Peer;
  readonly decoder = new HpackDecoder(4096);
  readonly streams = new Map<number, FastStream>();
  /** An incomplete frame (or preface) from the last read. */
  #pending: Buffer | null = null;
  /** 0: reading the preface; 1: its SETTINGS must come next; 2: running. */
  #state = 0;
  /** A header block being read over CONTINUATION frames: its stream, flags and fragments so far. */
  #blockStream = 0;
  #blockFlags = 0;
  #blockParts: Buffer[] | null = null;
  #blockBytes = 0;
  lastStreamId = 0;
  // Flow control. Send: the client's windows; receive: what the connection has not credited back yet.
  sendWindow = DEFAULT_WINDOW;
  #recvUnacked = 0;
  #recvWindow = CONNECTION_WINDOW;
  peerInitialWindow = DEFAULT_WINDOW;
  peerMaxFrame = MAX_FRAME;
  /** The client lowered SETTINGS_HEADER_TABLE_SIZE: the next header block starts with a size update. */
  tableSizeUpdate = false;
  /** Request body and response bytes this connection holds (the session memory limit). */
  held = 0;
  // Output.
  #out: Buffer | null = null;
  #outLen = 0;
  #outParts: Buffer[] | null = null;
  #queued = false;
  /** Streams with DATA waiting for the connection window, or paused while the socket was full. */
  #waiting: FastStream[] = [];
  /** GOAWAY sent (no new streams) / received. */
  goingAway = false;
  #peerGoingAway = false;
  #closed = false;
  // Flood accounting.
  #opened = 0;
  #resets = 0;
  #emptyFrames = 0;
  readonly #idle: LazyTimeout<H2Connection>;

  constructor(server: H2Server, socket: TLSSocket) {
    this.server = server;
    this.socket = socket;
    this.peer = peerOf(socket, server.ctx.trust);
    server.connections.add(this);
    const metrics = server.ctx.metrics;
    metrics.h2Sessions++;
    metrics.openConnections++;
    this.#idle = new LazyTimeout<H2Connection>(idleTimeout, this);
    this.#idle.start(performance.now(), server.idleMs);
    socket.on('data', this.#onData);
    socket.on('error', ignore);
    socket.on('close', this.#onClose);
    socket.on('drain', this.#onDrain);
    this.#write(server.settingsFrame);
    if (server.ctx.draining) this.goAway(NO_ERROR, false);
    // Bytes read with the handshake (a client that sent its preface at once) are in the socket's buffer.
    socket.resume();
  }

  // --- input ---

  #onData = (chunk: Buffer): void => {
    if (this.#closed) return;
    // Idle is no stream open and nothing read (a PING counts, as in nginx) for the keep-alive timeout.
    if (this.streams.size === 0) this.#idle.start(performance.now(), this.server.idleMs);
    let data = chunk;
    if (this.#pending !== null) {
      data = Buffer.concat([this.#pending, chunk]);
      this.#pending = null;
    }
    try {
      const used = this.#read(data);
      if (used < data.length) this.#pending = data.subarray(used);
      if (this.#peerGoingAway && this.streams.size === 0) this.goAway(NO_ERROR, false);
    } catch (err) {
      if (err instanceof ConnectionError) this.goAway(err.code, true);
      else {
        this.server.onInternalError(err);
        this.goAway(INTERNAL_ERROR, true);
      }
    }
  };

  /** Reads the frames `data` holds; returns the bytes used (the rest is an incomplete frame). */
  #read(data: Buffer): number {
    let at = 0;
    if (this.#state === 0) {
      const n = Math.min(PREFACE.length, data.length);
      if (data.compare(PREFACE, 0, n, 0, n) !== 0) throw new ConnectionError(PROTOCOL_ERROR);
      if (n < PREFACE.length) return 0;
      at = PREFACE.length;
      this.#state = 1;
    }
    const end = data.length;
    while (end - at >= 9) {
      const length = (data[at]! << 16) | (data[at + 1]! << 8) | data[at + 2]!;
      if (length > MAX_FRAME) throw new ConnectionError(FRAME_SIZE_ERROR);
      if (end - at - 9 < length) break;
      const type = data[at + 3]!;
      const flags = data[at + 4]!;
      const id = data.readUInt32BE(at + 5) & MAX_WINDOW;
      const start = at + 9;
      at = start + length;
      if (this.#closed) return end;
      this.#frame(type, flags, id, data, start, at);
    }
    return at;
  }

  #frame(type: number, flags: number, id: number, data: Buffer, start: number, end: number): void {
    if (this.#state === 1) {
      if (type !== SETTINGS || (flags & FLAG_ACK) !== 0) throw new ConnectionError(PROTOCOL_ERROR);
      this.#state = 2;
    }
    if (this.#blockParts !== null && type !== CONTINUATION) throw new ConnectionError(PROTOCOL_ERROR);
    switch (type) {
      case DATA:
        this.#data(flags, id, data, start, end);
        break;
      case HEADERS:
        this.#headers(flags, id, data, start, end);
        break;
      case CONTINUATION:
        this.#continuation(flags, id, data, start, end);
        break;
      case PRIORITY:
        if (id === 0) throw new ConnectionError(PROTOCOL_ERROR);
        if (end - start !== 5) {
          this.#emptyFrame();
          this.#resetStream(id, FRAME_SIZE_ERROR);
        } else if ((data.readUInt32BE(start) & MAX_WINDOW) === id) {
          // A stream that depends on itself (RFC 9113 §5.3.1): a stream error, and one more RST_STREAM to write.
          this.#emptyFrame();
          this.#resetStream(id, PROTOCOL_ERROR);
        }
        break;
      case RST_STREAM:
        this.#rstStream(id, start, end);
        break;
      case SETTINGS:
        this.#settings(flags, id, data, start, end);
        break;
      case PUSH_PROMISE:
        throw new ConnectionError(PROTOCOL_ERROR);
      case PING:
        if (id !== 0) throw new ConnectionError(PROTOCOL_ERROR);
        if (end - start !== 8) throw new ConnectionError(FRAME_SIZE_ERROR);
        if ((flags & FLAG_ACK) === 0) {
          this.#controlAnswer();
          const at = this.#reserve(17);
          writeFrameHeader(this.#out!, at, 8, PING, FLAG_ACK, 0);
          data.copy(this.#out!, at + 9, start, end);
        }
        break;
      case GOAWAY:
        if (id !== 0) throw new ConnectionError(PROTOCOL_ERROR);
        if (end - start < 8) throw new ConnectionError(FRAME_SIZE_ERROR);
        // Streams in flight finish; the connection ends with this end's GOAWAY once none is left (#onData).
        this.#peerGoingAway = true;
        break;
      case WINDOW_UPDATE:
        this.#windowUpdate(id, data, start, end);
        break;
      default:
      // Unknown frame types are ignored (RFC 9113 §4.1), but not inside a header block (checked above).
    }
  }

  #settings(flags: number, id: number, data: Buffer, start: number, end: number): void {
    if (id !== 0) throw new ConnectionError(PROTOCOL_ERROR);
    if ((flags & FLAG_ACK) !== 0) {
      if (end !== start) throw new ConnectionError(FRAME_SIZE_ERROR);
      return;
    }
    if ((end - start) % 6 !== 0) throw new ConnectionError(FRAME_SIZE_ERROR);
    for (let at = start; at < end; at += 6) {
      const key = data.readUInt16BE(at);
      const value = data.readUInt32BE(at + 2);
      switch (key) {
        case SETTINGS_ENABLE_PUSH:
          if (value > 1) throw new ConnectionError(PROTOCOL_ERROR);
          break;
        case SETTINGS_INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) throw new ConnectionError(FLOW_CONTROL_ERROR);
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const stream of this.streams.values()) {
            stream.sendWindow += delta;
            if (stream.sendWindow > MAX_WINDOW) throw new ConnectionError(FLOW_CONTROL_ERROR);
          }
          // Streams that waited for their own window are on no list (only the connection window's): all go on.
          if (delta > 0) {
            for (const stream of [...this.streams.values()])
              if (stream.pendingBytes > 0) stream.sendPending();
            this.#resumeWaiting();
          }
          break;
        }
        case SETTINGS_MAX_FRAME_SIZE:
          if (value < 16_384 || value > 16_777_215) throw new ConnectionError(PROTOCOL_ERROR);
          this.peerMaxFrame = value;
          break;
        // This end's encoder never adds to its dynamic table (hpack.ts), but a smaller table must still be
        // acknowledged by a size update at the start of the next header block (RFC 7541 §4.2): size 0.
        case SETTINGS_HEADER_TABLE_SIZE:
          if (value < 4096) this.tableSizeUpdate = true;
          break;
        // The client's concurrent streams and header list size concern requests this end does not make.
        case SETTINGS_MAX_CONCURRENT_STREAMS:
        case SETTINGS_MAX_HEADER_LIST_SIZE:
          break;
        default:
        // Unknown settings are ignored (RFC 9113 §6.5.2).
      }
    }
    this.#controlAnswer();
    const at = this.#reserve(9);
    writeFrameHeader(this.#out!, at, 0, SETTINGS, FLAG_ACK, 0);
  }

  /** A frame that only answers the client (a PING or SETTINGS ACK): refused to a client that does not read. */
  #controlAnswer(): void {
    if (this.socket.writableLength > MAX_UNREAD_CONTROL) throw new ConnectionError(ENHANCE_YOUR_CALM);
  }

  #windowUpdate(id: number, data: Buffer, start: number, end: number): void {
    if (end - start !== 4) throw new ConnectionError(FRAME_SIZE_ERROR);
    const increment = data.readUInt32BE(start) & MAX_WINDOW;
    if (id === 0) {
      if (increment === 0) throw new ConnectionError(PROTOCOL_ERROR);
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW) throw new ConnectionError(FLOW_CONTROL_ERROR);
      this.#resumeWaiting();
      return;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (id > this.lastStreamId) throw new ConnectionError(PROTOCOL_ERROR);
      return; // a stream closed here: its updates may still be on the way
    }
    if (increment === 0) {
      this.#resetStream(id, PROTOCOL_ERROR);
      return;
    }
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) {
      this.#resetStream(id, FLOW_CONTROL_ERROR);
      return;
    }
    if (stream.pendingBytes > 0) stream.sendPending();
  }

  #rstStream(id: number, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(PROTOCOL_ERROR);
    if (end - start !== 4) throw new ConnectionError(FRAME_SIZE_ERROR);
    if (id > this.lastStreamId) throw new ConnectionError(PROTOCOL_ERROR);
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    if (!stream.localEnded) this.#countReset();
    stream.resetByPeer = true;
    stream.close();
  }

  #headers(flags: number, id: number, data: Buffer, start: number, end: number): void {
    if (id === 0 || (id & 1) === 0) throw new ConnectionError(PROTOCOL_ERROR);
    let from = start;
    let to = end;
    if ((flags & FLAG_PADDED) !== 0) {
      if (to - from < 1) throw new ConnectionError(FRAME_SIZE_ERROR);
      const pad = data[from]!;
      from++;
      if (pad > to - from) throw new ConnectionError(PROTOCOL_ERROR);
      to -= pad;
    }
    if ((flags & FLAG_PRIORITY) !== 0) {
      if (to - from < 5) throw new ConnectionError(FRAME_SIZE_ERROR);
      if ((data.readUInt32BE(from) & MAX_WINDOW) === id) throw new ConnectionError(PROTOCOL_ERROR);
      from += 5;
    }
    if ((flags & FLAG_END_HEADERS) !== 0) {
      this.#headerBlock(flags, id, data, from, to);
      return;
    }
    this.#blockStream = id;
    this.#blockFlags = flags;
    this.#blockParts = [Buffer.from(data.subarray(from, to))];
    this.#blockBytes = to - from;
  }

  #continuation(flags: number, id: number, data: Buffer, start: number, end: number): void {
    if (this.#blockParts === null || id !== this.#blockStream) throw new ConnectionError(PROTOCOL_ERROR);
    if (end === start && (flags & FLAG_END_HEADERS) === 0) this.#emptyFrame();
    this.#blockBytes += end - start;
    // A header block may be as large as the header list it decodes to, and a little more: beyond, a flood.
    if (this.#blockBytes > this.server.maxHeaderList + MAX_FRAME)
      throw new ConnectionError(ENHANCE_YOUR_CALM);
    this.#blockParts.push(Buffer.from(data.subarray(start, end)));
    if ((flags & FLAG_END_HEADERS) === 0) return;
    const block = Buffer.concat(this.#blockParts);
    this.#blockParts = null;
    this.#headerBlock(this.#blockFlags, id, block, 0, block.length);
  }

  /** A stream given up before its response: past the allowance, more than half of all streams is a flood. */
  #countReset(): void {
    this.#resets++;
    if (this.#resets > RESET_ALLOWANCE && this.#resets * 2 > this.#opened) {
      throw new ConnectionError(ENHANCE_YOUR_CALM);
    }
  }

  #emptyFrame(): void {
    if (++this.#emptyFrames > MAX_EMPTY_FRAMES) throw new ConnectionError(ENHANCE_YOUR_CALM);
  }

  /** A complete header block for stream `id`: a new request, or trailers. */
  #headerBlock(flags: number, id: number, block: Buffer, start: number, end: number): void {
    const raw: string[] = [];
    let size: number;
    try {
      size = this.decoder.decode(block, start, end, raw, this.server.maxHeaderList);
    } catch (err) {
      if (err instanceof HpackError) throw new ConnectionError(COMPRESSION_ERROR);
      throw err;
    }
    const ended = (flags & FLAG_END_STREAM) !== 0;
    if (id <= this.lastStreamId) {
      const stream = this.streams.get(id);
      if (stream === undefined) {
        // A request on a stream id used before (RFC 9113 §5.1.1). Trailers, which have no pseudo-header, may
        // have crossed the RST_STREAM that closed their stream here: ignored.
        if (raw.length > 0 && raw[0]!.charCodeAt(0) === 0x3a /* : */)
          throw new ConnectionError(PROTOCOL_ERROR);
      } else if (stream.remoteEnded) {
        this.#resetStream(id, STREAM_CLOSED);
      } else if (!ended || checkTrailers(raw) === -1) {
        // Trailers end the stream and carry no pseudo-header (§8.1); they are read, not forwarded.
        this.#countReset();
        this.#resetStream(id, PROTOCOL_ERROR);
      } else {
        stream.bodyData(block, start, start, true);
      }
      return;
    }
    this.lastStreamId = id;
    if (this.goingAway || this.#peerGoingAway) return;
    this.#opened++;
    const server = this.server;
    if (this.streams.size >= server.settings.maxConcurrentStreams) {
      // Refused streams count like reset ones: a client that keeps opening past the limit is flooding.
      this.#countReset();
      this.#resetStream(id, REFUSED_STREAM);
      return;
    }
    if (this.held > server.maxMemory) {
      this.#resetStream(id, ENHANCE_YOUR_CALM);
      return;
    }
    const malformed = size > server.maxHeaderList ? 0 : checkRequest(raw);
    if (malformed === -1) {
      // Like refused ones: a client that sends nothing but malformed requests earns RST_STREAMs (a reset flood).
      this.#countReset();
      this.#resetStream(id, PROTOCOL_ERROR);
      return;
    }
    this.#idle.stop();
    const stream = new FastStream(this, id, ended);
    this.streams.set(id, stream);
    try {
      stream.begin(raw, size > server.maxHeaderList);
    } catch (err) {
      server.onInternalError(err);
      stream.reset(INTERNAL_ERROR);
    }
  }

  #data(flags: number, id: number, data: Buffer, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(PROTOCOL_ERROR);
    const length = end - start;
    // The whole frame counts against the windows, padding included (RFC 9113 §6.1).
    this.#recvWindow -= length;
    if (this.#recvWindow < 0) throw new ConnectionError(FLOW_CONTROL_ERROR);
    this.#recvUnacked += length;
    if (this.#recvUnacked >= CONNECTION_WINDOW >>> 1) {
      const at = this.#reserve(13);
      writeFrameHeader(this.#out!, at, 4, WINDOW_UPDATE, 0, 0);
      this.#out!.writeUInt32BE(this.#recvUnacked, at + 9);
      this.#recvWindow += this.#recvUnacked;
      this.#recvUnacked = 0;
    }
    let from = start;
    let to = end;
    if ((flags & FLAG_PADDED) !== 0) {
      if (length < 1) throw new ConnectionError(FRAME_SIZE_ERROR);
      const pad = data[from]!;
      from++;
      if (pad > to - from) throw new ConnectionError(PROTOCOL_ERROR);
      to -= pad;
    }
    const ended = (flags & FLAG_END_STREAM) !== 0;
    if (length === 0 && !ended) this.#emptyFrame();
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (id > this.lastStreamId) throw new ConnectionError(PROTOCOL_ERROR);
      return; // closed here (answered, reset): ignored, the connection window was counted above
    }
    if (stream.remoteEnded) {
      this.#resetStream(id, STREAM_CLOSED);
      return;
    }
    stream.recvWindow -= length;
    if (stream.recvWindow < 0) {
      this.#resetStream(id, FLOW_CONTROL_ERROR);
      return;
    }
    // Padding is not body: credit it back now.
    if (to - from < length) stream.credit(length - (to - from));
    stream.bodyData(data, from, to, ended);
  }

  // --- streams ---

  /** Sends RST_STREAM and closes the stream if it is open here. */
  #resetStream(id: number, code: number): void {
    const stream = this.streams.get(id);
    if (stream !== undefined) stream.reset(code);
    else this.writeRst(id, code);
  }

  writeRst(id: number, code: number): void {
    const at = this.#reserve(13);
    writeFrameHeader(this.#out!, at, 4, RST_STREAM, 0, id);
    this.#out!.writeUInt32BE(code, at + 9);
  }

  /** A stream closed: forget it; the connection may now be idle, or done going away. */
  forget(stream: FastStream): void {
    this.streams.delete(stream.id);
    if (this.streams.size !== 0 || this.#closed) return;
    if (this.goingAway || this.#peerGoingAway) this.goAway(NO_ERROR, false);
    else this.#idle.start(performance.now(), this.server.idleMs);
  }

  /** A stream whose DATA waits for the connection window or the socket. */
  wait(stream: FastStream): void {
    if (!stream.waiting) {
      stream.waiting = true;
      this.#waiting.push(stream);
    }
  }

  #resumeWaiting(): void {
    const list = this.#waiting;
    if (list.length === 0) return;
    this.#waiting = [];
    for (let i = 0; i < list.length; i++) {
      const stream = list[i]!;
      stream.waiting = false;
      if (!stream.closed) stream.sendPending();
    }
  }

  #onDrain = (): void => {
    this.#resumeWaiting();
  };

  /** The socket holds more than it should: responses wait (their upstreams pause) until it drains. */
  get congested(): boolean {
    return this.socket.writableNeedDrain;
  }

  // --- output ---

  /** Room for `n` bytes at the returned offset of `#out` (n <= OUT_SIZE), and a flush at the end of this turn. */
  #reserve(n: number): number {
    let out = this.#out;
    if (out === null) {
      out = spareOut.pop() ?? Buffer.allocUnsafeSlow(OUT_SIZE);
      this.#out = out;
      this.#outLen = 0;
    } else if (this.#outLen + n > out.length) {
      this.#spill();
    }
    const at = this.#outLen;
    this.#outLen = at + n;
    if (!this.#queued) {
      this.#queued = true;
      dirty.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAll);
      }
    }
    return at;
  }

  /** Moves what `#out` holds to the parts to write, as a copy of its own. */
  #spill(): void {
    if (this.#outLen === 0) return;
    const copy = Buffer.from(this.#out!.subarray(0, this.#outLen));
    if (this.#outParts === null) this.#outParts = [copy];
    else this.#outParts.push(copy);
    this.#outLen = 0;
  }

  /** Frame header and payload of one frame; a large payload goes out as its own buffer (copied: see onData). */
  writeFrame(type: number, flags: number, id: number, payload: Buffer, start: number, end: number): void {
    const length = end - start;
    if (length >= DIRECT_DATA) {
      const at = this.#reserve(9);
      writeFrameHeader(this.#out!, at, length, type, flags, id);
      this.#spill();
      this.#outParts!.push(Buffer.from(payload.subarray(start, end)));
      return;
    }
    const at = this.#reserve(9 + length);
    writeFrameHeader(this.#out!, at, length, type, flags, id);
    payload.copy(this.#out!, at + 9, start, end);
  }

  /** A header block as HEADERS and, past the client's frame size, CONTINUATION frames. */
  writeHeaders(id: number, endStream: boolean, block: Buffer, length: number): void {
    const max = this.peerMaxFrame;
    if (length <= max && length <= OUT_SIZE - 9) {
      this.writeFrame(HEADERS, FLAG_END_HEADERS | (endStream ? FLAG_END_STREAM : 0), id, block, 0, length);
      return;
    }
    let at = 0;
    let type = HEADERS;
    let flags = endStream ? FLAG_END_STREAM : 0;
    while (at < length) {
      const n = Math.min(max, length - at, OUT_SIZE - 9);
      if (at + n === length) flags |= FLAG_END_HEADERS;
      this.writeFrame(type, flags, id, block, at, at + n);
      at += n;
      type = CONTINUATION;
      flags = 0;
    }
  }

  /** Writes what this turn produced. */
  flush(): void {
    this.#queued = false;
    const out = this.#out;
    if (out === null || this.#closed) return;
    const parts = this.#outParts;
    if (parts === null) {
      const len = this.#outLen;
      if (len > 0) {
        const bytes = Buffer.allocUnsafe(len);
        out.copy(bytes, 0, 0, len);
        this.socket.write(bytes);
      }
    } else {
      this.#spill();
      this.#outParts = null;
      const socket = this.socket;
      socket.cork();
      for (let i = 0; i < parts.length; i++) socket.write(parts[i]!);
      socket.uncork();
    }
    this.#outLen = 0;
    // An idle connection holds no output buffer.
    this.#out = null;
    if (spareOut.length < 64) spareOut.push(out);
  }

  /** Bytes that are whole frames already. */
  #write(bytes: Buffer): void {
    const at = this.#reserve(bytes.length);
    bytes.copy(this.#out!, at);
  }

  /**
   * GOAWAY with `code` naming the last stream this end will answer. `cut`: an error, the connection ends now
   * (after the GOAWAY is written); else streams in flight finish first.
   */
  goAway(code: number, cut: boolean): void {
    if (this.#closed) return;
    if (!this.goingAway) {
      this.goingAway = true;
      const at = this.#reserve(17);
      writeFrameHeader(this.#out!, at, 8, GOAWAY, 0, 0);
      this.#out!.writeUInt32BE(this.lastStreamId, at + 9);
      this.#out!.writeUInt32BE(code, at + 13);
    }
    if (cut) {
      this.#end();
      // A client that does not read what is left would hold the socket: it has a moment, then it is cut.
      setTimeout(destroy, 2000, this.socket).unref();
      for (const stream of [...this.streams.values()]) stream.close();
      return;
    }
    if (this.streams.size === 0) this.#end();
  }

  /** Ends the connection once what was written has gone. */
  #end(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    // A client that never ends its side would hold the socket: once ours is written out, it has a moment.
    this.socket.once('finish', lingerThenDestroy);
    this.socket.end();
  }

  #onClose = (): void => {
    this.#closed = true;
    this.#idle.clear();
    const server = this.server;
    server.connections.delete(this);
    server.ctx.metrics.h2Sessions--;
    server.ctx.metrics.openConnections--;
    for (const stream of [...this.streams.values()]) stream.close();
    if (this.#out !== null) {
      if (spareOut.length < 64) spareOut.push(this.#out);
      this.#out = null;
    }
    this.#outParts = null;
  };
}

/**
 * Checks a request's header list as RFC 9113 §8.2 and §8.3 require: -1 when it is malformed, else 0. The
 * values of pseudo-headers are checked by the routing (an empty :path or a bad :authority is a 400 there).
 */
function checkRequest(raw: readonly string[]): number {
  let seen = 0; // bits: 1 :method, 2 :scheme, 4 :path, 8 :authority
  let connect = false;
  let regular = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (!validValue(value)) return -1;
    if (name.charCodeAt(0) === 0x3a /* : */) {
      if (regular) return -1;
      let bit: number;
      if (name === ':method') {
        bit = 1;
        connect = value === 'CONNECT';
      } else if (name === ':scheme') bit = 2;
      else if (name === ':path') {
        bit = 4;
        if (value.length === 0) return -1;
      } else if (name === ':authority') bit = 8;
      else return -1;
      if ((seen & bit) !== 0) return -1;
      seen |= bit;
      continue;
    }
    regular = true;
    if (name.length === 0) return -1;
    for (let j = 0; j < name.length; j++) if (NAME_CHAR[name.charCodeAt(j)] !== 1) return -1;
    if (CONNECTION_SPECIFIC.has(name)) return -1;
    if (name === 'te' && value !== 'trailers') return -1;
  }
  if (connect) return (seen & 6) === 0 && (seen & 8) !== 0 ? 0 : -1;
  return (seen & 7) === 7 ? 0 : -1;
}

/** Checks a trailer section (RFC 9113 §8.1): regular fields only, valid as in a request. -1 when malformed. */
function checkTrailers(raw: readonly string[]): number {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 0 || !validValue(raw[i + 1]!)) return -1;
    for (let j = 0; j < name.length; j++) if (NAME_CHAR[name.charCodeAt(j)] !== 1) return -1;
  }
  return 0;
}

/** A field value without NUL, CR or LF, and without white space at either end (RFC 9113 §8.2.1). */
function validValue(value: string): boolean {
  const n = value.length;
  if (n === 0) return true;
  let c = value.charCodeAt(0);
  if (c === 0x20 || c === 0x09) return false;
  c = value.charCodeAt(n - 1);
  if (c === 0x20 || c === 0x09) return false;
  for (let i = 0; i < n; i++) {
    c = value.charCodeAt(i);
    if (c === 0x00 || c === 0x0a || c === 0x0d) return false;
  }
  return true;
}

function ignore(): void {}

function destroy(socket: TLSSocket): void {
  socket.destroy();
}

function lingerThenDestroy(this: TLSSocket): void {
  setTimeout(destroy, 2000, this).unref();
}

/** Scratch for a response's header block (encoded synchronously, then copied into the connection's output). */
let headerScratch = Buffer.allocUnsafeSlow(OUT_SIZE);

/** One HTTP/2 stream: the request read from it, its upstream attempt and its response. */
class FastStream extends ForwardedRequest {
  readonly conn: H2Connection;
  readonly id: number;
  method = 'GET';
  url = '/';
  /** The status answered (the upstream's, or the proxy's own). */
  status = 0;
  /** The response body's length as the upstream framed it; -1: chunked or until close. */
  length = -1;
  sendWindow: number;
  recvWindow: number;
  /** Request body bytes delivered (or padding) not yet credited back to the client's stream window. */
  #recvUnacked = 0;
  /** The client ended its side (END_STREAM) / this end did. */
  remoteEnded: boolean;
  localEnded = false;
  headersSent = false;
  /** The request had a content-length: the DATA must add up to it (RFC 9113 §8.1.1). */
  #declared = -1;
  #received = 0;
  /** Response bytes waiting for a window; END_STREAM follows them when `#endAfter`. */
  #pending: Buffer[] = [];
  pendingBytes = 0;
  #endAfter = false;
  /** Queued on the connection's waiting list. */
  waiting = false;
  /** onData returned false: the upstream waits for `onDrain`. */
  #paused = false;
  closed = false;
  resetByPeer = false;
  /** The stream went upstream (start()): it counts in flight and is recorded when it closes. */
  #started = false;
  #errorCode = NO_ERROR;
  h2body: H2Body | null = null;

  constructor(conn: H2Connection, id: number, ended: boolean) {
    const ctx = conn.server.ctx;
    super(ctx, ctx.table, performance.now(), conn.peer);
    this.conn = conn;
    this.id = id;
    this.remoteEnded = ended;
    this.sendWindow = conn.peerInitialWindow;
    this.recvWindow = conn.server.settings.initialWindowSize;
  }

  /** Reads the head, routes it, and answers it or sends it upstream. `tooLarge`: the header list was. */
  begin(raw: string[], tooLarge: boolean): void {
    const ctx = this.ctx;
    ctx.metrics.h2Streams++;
    if (tooLarge) {
      this.requestId = nextRequestId();
      this.reject(431, '');
      return;
    }
    const hostStatus = readH2Head(this, raw, this.remoteEnded, ctx.underscoresInHeaders);
    this.requestId = trustedRequestId(this, this.peer) ?? nextRequestId();
    if (this.contentLengths > 0) {
      this.#declared = parseContentLength(this.contentLength);
      // A content-length that is not a number, or that an ended stream contradicts, is malformed.
      if (this.#declared === -1 || this.contentLengths > 1 || (this.remoteEnded && this.#declared !== 0)) {
        this.reset(PROTOCOL_ERROR);
        return;
      }
    }
    if (this.method === 'CONNECT') {
      this.status = 405;
      this.respond(405, ['x-request-id', this.requestId], null);
      this.record(ctx.metrics.unknown, 405);
      return;
    }
    const status =
      hostStatus !== 0
        ? hostStatus
        : routeRequest(this.table, this, this.method, this.url, 11, raw.length >> 1, this.peer);
    // As in h2.ts: no 308 on TLS; HTTP-01 challenges are answered over plain HTTP only.
    if (status !== 0) {
      this.reject((status === ACME_ANSWER ? 404 : status) as ErrorStatus, this.host);
      return;
    }
    this.start();
  }

  /** Answers without contacting an upstream (route.ts). */
  reject(status: ErrorStatus, host: string): void {
    this.status = status;
    this.errorPage(status, host);
    this.record(this.ctx.metrics.unknown, status);
  }

  errorPage(status: ErrorStatus, host: string): void {
    const body = this.table.pages.render(status, host, this.requestId);
    this.respond(status, errorPageHeaders(body.length, this.requestId), this.method === 'HEAD' ? null : body);
  }

  /** A whole response of the proxy's own. */
  respond(status: number, headers: string[], body: Buffer | null): void {
    this.#writeHead(status, headers, false, body === null || body.length === 0);
    if (body !== null && body.length > 0) this.#sendData(body, 0, true);
  }

  start(): void {
    const ctx = this.ctx;
    addForwardedHeaders(this, this.peer, this.host, this.peer.proto, this.requestId);
    ctx.inFlight++;
    this.#started = true;
    if (this.hasBody && !this.remoteEnded) this.body = this.h2body = new H2Body(this);
    const head = new RequestHeadText(this.method, this.path, this.headers, this.body !== null);
    this.upstreamHead = head;
    const failed = startAttempt(this, this.group!, this.peer.address, this.method, head, this.body);
    if (failed !== null) this.fail(failed);
  }

  // --- the request body ---

  /** DATA for this stream, `data[from, to)` its payload (padding removed). */
  bodyData(data: Buffer, from: number, to: number, ended: boolean): void {
    const n = to - from;
    this.#received += n;
    if (
      this.#declared !== -1 &&
      (this.#received > this.#declared || (ended && this.#received !== this.#declared))
    ) {
      this.reset(PROTOCOL_ERROR);
      return;
    }
    const body = this.h2body;
    if (body === null) {
      // Nobody reads it (answered already, or a body on a request that said it had none): credit it back.
      this.credit(n);
    } else if (n > 0) {
      body.push(data.subarray(from, to));
    }
    if (ended) this.endOfBody();
  }

  /** The client ended its side. */
  endOfBody(): void {
    this.remoteEnded = true;
    this.h2body?.end();
    if (this.localEnded && (!this.#started || this.settled)) this.close();
  }

  /** `n` request body bytes were taken (or are not wanted): the client may send as many more. */
  credit(n: number): void {
    if (this.remoteEnded || this.closed) return;
    this.#recvUnacked += n;
    const initial = this.conn.server.settings.initialWindowSize;
    if (this.#recvUnacked < initial >>> 1) return;
    const conn = this.conn;
    const out = Buffer.allocUnsafe(4);
    out.writeUInt32BE(this.#recvUnacked);
    conn.writeFrame(WINDOW_UPDATE, 0, this.id, out, 0, 4);
    this.recvWindow += this.#recvUnacked;
    this.#recvUnacked = 0;
  }

  // --- the response ---

  /**
   * HEADERS for `status` and `headers` (flat; names as the upstream wrote them, lowercased here). `upstream`:
   * the upstream's fields, which may carry connection-specific ones and lack Date.
   */
  #writeHead(status: number, headers: readonly string[], upstream: boolean, endStream: boolean): boolean {
    let size = 4;
    for (let i = 0; i < headers.length; i += 2) size += fieldLength(headers[i]!, headers[i + 1]!);
    const hsts = this.vhost?.hsts ?? null;
    size += 64 + (hsts === null ? 0 : fieldLength('strict-transport-security', hsts));
    let block = headerScratch;
    if (size > block.length) block = headerScratch = Buffer.allocUnsafeSlow(size * 2);
    let at = 0;
    const conn = this.conn;
    if (conn.tableSizeUpdate) {
      conn.tableSizeUpdate = false;
      at = writeTableSizeUpdate(0, block, 0);
    }
    at = encodeStatus(status, block, at);
    let date = false;
    for (let i = 0; i < headers.length; i += 2) {
      let name = headers[i]!;
      if (upstream) {
        const kind = headerKind(name);
        if (kind === HOP || kind === CONNECTION || kind === TRANSFER_ENCODING || kind === UPGRADE) continue;
        name = name.toLowerCase();
        if (name === 'date') date = true;
        else if (name === 'strict-transport-security' && hsts !== null) continue;
      }
      at = writeField(name, headers[i + 1]!, block, at);
    }
    if (!date) at = writeField('date', httpDate(), block, at);
    if (hsts !== null) at = writeField('strict-transport-security', hsts, block, at);
    conn.writeHeaders(this.id, endStream, block, at);
    this.headersSent = true;
    if (endStream) this.#localEnd();
    return true;
  }

  /**
   * DATA for `chunk[from..]` as far as the windows allow, END_STREAM with its last byte when `end`; what does
   * not fit waits (copied) for a WINDOW_UPDATE. Returns false when it had to wait.
   */
  #sendData(chunk: Buffer, from: number, end: boolean): boolean {
    const conn = this.conn;
    const length = chunk.length;
    let at = from;
    while (true) {
      const left = length - at;
      const room = Math.min(this.sendWindow, conn.sendWindow, conn.peerMaxFrame);
      if (left === 0 || room <= 0) break;
      const n = Math.min(left, room);
      const last = end && n === left;
      conn.writeFrame(DATA, last ? FLAG_END_STREAM : 0, this.id, chunk, at, at + n);
      this.sendWindow -= n;
      conn.sendWindow -= n;
      at += n;
      if (last) {
        this.#localEnd();
        return true;
      }
    }
    if (at < length) {
      const rest = Buffer.from(chunk.subarray(at));
      this.#pending.push(rest);
      this.pendingBytes += rest.length;
      conn.held += rest.length;
      if (end) this.#endAfter = true;
      if (conn.sendWindow <= 0) conn.wait(this);
      return false;
    }
    if (end) {
      // Nothing left to send but the end itself (an empty DATA frame needs no window).
      conn.writeFrame(DATA, FLAG_END_STREAM, this.id, chunk, 0, 0);
      this.#localEnd();
    }
    return true;
  }

  /** A window opened or the socket drained: send what waits, and let the upstream go on when all went. */
  sendPending(): void {
    const pending = this.#pending;
    while (pending.length > 0) {
      const chunk = pending[0]!;
      pending.shift();
      this.pendingBytes -= chunk.length;
      this.conn.held -= chunk.length;
      const end = this.#endAfter && pending.length === 0;
      if (end) this.#endAfter = false;
      if (!this.#sendData(chunk, 0, end)) {
        // What did not fit went to the end of the queue: put it back first.
        const rest = pending.pop()!;
        pending.unshift(rest);
        return;
      }
    }
    if (this.#endAfter) {
      this.#endAfter = false;
      this.#sendData(EMPTY, 0, true);
    }
    if (this.#paused) {
      if (this.conn.congested) {
        this.conn.wait(this);
        return;
      }
      this.#paused = false;
      this.onDrain();
    }
  }

  /** END_STREAM went out. The stream closes now, or when its upstream attempt settles (for the access log). */
  #localEnd(): void {
    this.localEnded = true;
    if (!this.#started || this.settled) this.#finish();
  }

  /** The response is complete and its attempt settled. */
  #finish(): void {
    if (this.closed) return;
    // Answered before the client finished its body: tell it to stop sending (RFC 9113 §8.1).
    if (!this.remoteEnded) this.conn.writeRst(this.id, NO_ERROR);
    this.close();
  }

  // --- upstream response handler (upstream/client.ts); onError: forwarded-request.ts ---

  onHeaders(statusCode: number, headers: string[], length: number): boolean {
    this.upstream!.answered();
    this.length = length;
    if (this.clientGone || this.closed) return false;
    const bodiless = this.method === 'HEAD' || statusCode === 204 || statusCode === 304 || length === 0;
    this.status = statusCode;
    return this.#writeHead(statusCode, headers, true, bodiless);
  }

  onData(chunk: Buffer): boolean {
    this.bytesOut += chunk.length;
    if (this.localEnded || this.closed) return true; // HEAD, 204, 304: the stream ended with the headers
    const last = this.bytesOut === this.length;
    if (this.pendingBytes > 0) {
      // Behind what already waits for a window.
      const copy = Buffer.from(chunk);
      this.#pending.push(copy);
      this.pendingBytes += copy.length;
      this.conn.held += copy.length;
      if (last) this.#endAfter = true;
    } else if (this.#sendData(chunk, 0, last)) {
      if (!this.conn.congested) return true;
      this.conn.wait(this);
    }
    this.#paused = true;
    return false;
  }

  onComplete(): void {
    settleAttempt(this, this.method, this.status);
    if (this.closed) return;
    if (this.localEnded) {
      this.#finish();
      return;
    }
    if (this.pendingBytes > 0) this.#endAfter = true;
    else this.#sendData(EMPTY, 0, true);
  }

  get responseStarted(): boolean {
    return this.headersSent;
  }

  fail(err: Error): void {
    if (this.closed) return;
    if (this.localEnded) {
      // The client has the whole response already; what failed after it changes nothing for it.
      this.#finish();
      return;
    }
    if (this.headersSent) {
      // Too late for a status: reset the stream so the client sees an incomplete response, not a complete one.
      this.reset(INTERNAL_ERROR);
      return;
    }
    const status = this.failureStatus(err);
    this.status = status;
    this.errorPage(status, this.host);
  }

  /** RST_STREAM with `code` (unless the client reset it), then closed. */
  reset(code: number): void {
    if (this.closed) return;
    this.#errorCode = code;
    this.conn.writeRst(this.id, code);
    this.close();
  }

  /** The stream is over: answered and read, reset, or its connection went away. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const conn = this.conn;
    if (this.pendingBytes > 0) {
      conn.held -= this.pendingBytes;
      this.pendingBytes = 0;
      this.#pending = [];
    }
    this.h2body?.abort();
    conn.forget(this);
    if (!this.#started) return;
    this.forwardEnded(this.localEnded && !this.resetByPeer && this.#errorCode === NO_ERROR, this.status);
  }

  // --- observe/record.ts RecordedRequest (the rest: forwarded-request.ts) ---
  get httpVersion(): string {
    return '2.0';
  }
}

const EMPTY = Buffer.alloc(0);

/** A stream's request body as the upstream client pumps it (request-body.ts). */
class H2Body implements RequestBody {
  readonly stream: FastStream;
  sink: BodySink | null = null;
  #chunks: Buffer[] = [];
  #paused = false;
  #ended = false;
  #gone = false;
  #finished = false;
  readableDidRead = false;
  /** Body bytes read from the client so far (metrics, access log). */
  bytes = 0;

  constructor(stream: FastStream) {
    this.stream = stream;
  }

  /** DATA from the client (a slice of the socket's read buffer, which is not reused). */
  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.sink !== null && !this.#paused && this.#chunks.length === 0) {
      this.readableDidRead = true;
      this.sink.data(chunk);
      this.stream.credit(chunk.length);
      return;
    }
    this.#chunks.push(chunk);
    this.stream.conn.held += chunk.length;
  }

  end(): void {
    this.#ended = true;
    this.#deliver();
  }

  /** The stream closed before its body was complete. */
  abort(): void {
    if (this.#ended && this.#chunks.length === 0) return;
    this.#gone = true;
    for (const chunk of this.#chunks) this.stream.conn.held -= chunk.length;
    this.#chunks = [];
    this.#deliver();
  }

  attach(sink: BodySink): void {
    this.sink = sink;
    this.#paused = false;
    this.#finished = false;
    this.#deliver();
  }

  detach(): void {
    this.sink = null;
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#deliver();
  }

  #deliver(): void {
    const chunks = this.#chunks;
    while (this.sink !== null && !this.#paused && chunks.length > 0) {
      const chunk = chunks.shift()!;
      this.stream.conn.held -= chunk.length;
      this.readableDidRead = true;
      this.sink.data(chunk);
      this.stream.credit(chunk.length);
    }
    if (this.sink === null || chunks.length > 0 || this.#finished) return;
    if (this.#gone) {
      this.#finished = true;
      this.sink.gone();
    } else if (this.#ended) {
      this.#finished = true;
      this.sink.end();
    }
  }
}
