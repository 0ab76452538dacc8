/**
 * A raw HTTP/2 client for frame-level tests: it writes the frames a test spells out (valid or not) over a real
 * TLS connection that negotiated `h2`, and reads the proxy's frames back, decoding header blocks with HPACK.
 */
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { Test } from 'tap';
import { HpackDecoder } from '../src/http2/hpack.js';
import type { TlsFront } from './h2-client.js';

export const FRAME = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

export const ERROR = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  COMPRESSION_ERROR: 9,
  ENHANCE_YOUR_CALM: 11,
} as const;

export interface Frame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function frame(type: number, flags: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(id, 5);
  return Buffer.concat([head, payload]);
}

export function settings(entries: [number, number][] = []): Buffer {
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([key, value], i) => {
    payload.writeUInt16BE(key, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FRAME.SETTINGS, 0, 0, payload);
}

export function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value);
  return b;
}

function hpackInt(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  out.push(rest);
  return out;
}

/** A header block of literal fields without indexing, with literal names (no Huffman): any bytes at all. */
export function block(fields: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    parts.push(Buffer.from([0x00, ...hpackInt(name.length, 7, 0)]), Buffer.from(name, 'latin1'));
    parts.push(Buffer.from(hpackInt(value.length, 7, 0)), Buffer.from(value, 'latin1'));
  }
  return Buffer.concat(parts);
}

/** The pseudo-headers of a GET for `authority`, then `extra`. */
export function get(authority: string, path = '/', extra: [string, string][] = []): Buffer {
  return block([
    [':method', 'GET'],
    [':scheme', 'https'],
    [':authority', authority],
    [':path', path],
    ...extra,
  ]);
}

export class RawH2 {
  readonly socket: TLSSocket;
  readonly frames: Frame[] = [];
  readonly decoder = new HpackDecoder();
  /** Decoded response header lists by stream id. */
  readonly headers = new Map<number, string[]>();
  readonly bodies = new Map<number, Buffer[]>();
  closed = false;
  #buffer = Buffer.alloc(0);
  #block: Buffer[] = [];
  #waiters: (() => void)[] = [];

  constructor(socket: TLSSocket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  /** Connects to `front` (ALPN h2), sends the preface and SETTINGS `entries` unless `preface` is false. */
  static async connect(
    t: Test,
    front: TlsFront,
    servername: string,
    entries: [number, number][] = [],
    preface = true,
  ): Promise<RawH2> {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: front.tlsPort,
      servername,
      ca: front.ca.certPem,
      ALPNProtocols: ['h2'],
    });
    t.teardown(() => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    if (socket.alpnProtocol !== 'h2') throw new Error(`ALPN chose ${socket.alpnProtocol}`);
    const raw = new RawH2(socket);
    if (preface) raw.send(Buffer.concat([PREFACE, settings(entries)]));
    return raw;
  }

  send(...bytes: Buffer[]): void {
    this.socket.write(Buffer.concat(bytes));
  }

  /** The first frame (in arrival order, from the start) that `match` accepts, within `ms`. */
  async next(match: (f: Frame) => boolean, ms = 5000): Promise<Frame> {
    const until = Date.now() + ms;
    while (true) {
      const found = this.frames.find(match);
      if (found !== undefined) return found;
      if (this.closed) throw new Error('connection closed without the frame');
      if (Date.now() > until) throw new Error('no such frame in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, until - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  goaway(ms = 5000): Promise<Frame> {
    return this.next((f) => f.type === FRAME.GOAWAY, ms);
  }

  /** The error code of the GOAWAY or of the RST_STREAM for `id`. */
  static code(f: Frame): number {
    return f.type === FRAME.GOAWAY ? f.payload.readUInt32BE(4) : f.payload.readUInt32BE(0);
  }

  rst(id: number, ms = 5000): Promise<Frame> {
    return this.next((f) => f.type === FRAME.RST_STREAM && f.id === id, ms);
  }

  /** The response on stream `id` when it ended (END_STREAM): status, header list and body. */
  async response(id: number, ms = 5000): Promise<{ status: number; headers: string[]; body: Buffer }> {
    await this.next(
      (f) => f.id === id && (f.type === FRAME.DATA || f.type === FRAME.HEADERS) && (f.flags & 1) !== 0,
      ms,
    );
    const headers = this.headers.get(id) ?? [];
    return { status: Number(headers[1]), headers, body: Buffer.concat(this.bodies.get(id) ?? []) };
  }

  /** Resolves once the socket closed (rejects after `ms`). */
  async closedWithin(ms = 5000): Promise<void> {
    const until = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > until) throw new Error('connection still open');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  #read(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 9) {
      const length = this.#buffer.readUIntBE(0, 3);
      if (this.#buffer.length < 9 + length) break;
      const f: Frame = {
        type: this.#buffer[3]!,
        flags: this.#buffer[4]!,
        id: this.#buffer.readUInt32BE(5) & 0x7fffffff,
        payload: Buffer.from(this.#buffer.subarray(9, 9 + length)),
      };
      this.#buffer = this.#buffer.subarray(9 + length);
      if (f.type === FRAME.HEADERS || f.type === FRAME.CONTINUATION) {
        this.#block.push(f.payload);
        if ((f.flags & 0x4) !== 0) {
          const whole = Buffer.concat(this.#block);
          this.#block = [];
          const list: string[] = [];
          this.decoder.decode(whole, 0, whole.length, list, 1 << 30);
          this.headers.set(f.id, list);
        }
      } else if (f.type === FRAME.DATA) {
        const list = this.bodies.get(f.id) ?? [];
        list.push(f.payload);
        this.bodies.set(f.id, list);
      }
      this.frames.push(f);
    }
    this.#wake();
  }
}
