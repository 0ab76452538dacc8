/**
 * HPACK (src/http2/hpack.ts, huffman.ts): the RFC 7541 Appendix C examples, every Huffman code against Appendix B,
 * every decoding error RFC 7541 names, the header list limit, and interop both ways with nghttp2 (node:http2) over
 * bare sockets: its encoder against HpackDecoder, and encodeStatus/writeField against its decoder.
 */
import http2 from 'node:http2';
import net from 'node:net';
import t, { type Test } from 'tap';
import { NodixProxyError } from '../../src/errors.js';
import {
  encodeInteger,
  encodeStatus,
  fieldLength,
  HpackDecoder,
  HpackError,
  STATIC_TABLE,
  writeField,
  writeTableSizeUpdate,
} from '../../src/http2/hpack.js';
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from '../../src/http2/huffman.js';

// ---------------------------------------------------------------------------------------------------------------
// Spec data, from RFC 7541 (the httpwg draft source of the published text).

/** Appendix B: [code, bit length] of symbols 0-255 and EOS. */
// biome-ignore format: six symbols a row, as numbered in the comments
const APPENDIX_B: readonly (readonly [number, number])[] = [
  [0x1ff8, 13], [0x7fffd8, 23], [0xfffffe2, 28], [0xfffffe3, 28], [0xfffffe4, 28], [0xfffffe5, 28], // 0
  [0xfffffe6, 28], [0xfffffe7, 28], [0xfffffe8, 28], [0xffffea, 24], [0x3ffffffc, 30], [0xfffffe9, 28], // 6
  [0xfffffea, 28], [0x3ffffffd, 30], [0xfffffeb, 28], [0xfffffec, 28], [0xfffffed, 28], [0xfffffee, 28], // 12
  [0xfffffef, 28], [0xffffff0, 28], [0xffffff1, 28], [0xffffff2, 28], [0x3ffffffe, 30], [0xffffff3, 28], // 18
  [0xffffff4, 28], [0xffffff5, 28], [0xffffff6, 28], [0xffffff7, 28], [0xffffff8, 28], [0xffffff9, 28], // 24
  [0xffffffa, 28], [0xffffffb, 28], [0x14, 6], [0x3f8, 10], [0x3f9, 10], [0xffa, 12], // 30
  [0x1ff9, 13], [0x15, 6], [0xf8, 8], [0x7fa, 11], [0x3fa, 10], [0x3fb, 10], // 36
  [0xf9, 8], [0x7fb, 11], [0xfa, 8], [0x16, 6], [0x17, 6], [0x18, 6], // 42
  [0x0, 5], [0x1, 5], [0x2, 5], [0x19, 6], [0x1a, 6], [0x1b, 6], // 48
  [0x1c, 6], [0x1d, 6], [0x1e, 6], [0x1f, 6], [0x5c, 7], [0xfb, 8], // 54
  [0x7ffc, 15], [0x20, 6], [0xffb, 12], [0x3fc, 10], [0x1ffa, 13], [0x21, 6], // 60
  [0x5d, 7], [0x5e, 7], [0x5f, 7], [0x60, 7], [0x61, 7], [0x62, 7], // 66
  [0x63, 7], [0x64, 7], [0x65, 7], [0x66, 7], [0x67, 7], [0x68, 7], // 72
  [0x69, 7], [0x6a, 7], [0x6b, 7], [0x6c, 7], [0x6d, 7], [0x6e, 7], // 78
  [0x6f, 7], [0x70, 7], [0x71, 7], [0x72, 7], [0xfc, 8], [0x73, 7], // 84
  [0xfd, 8], [0x1ffb, 13], [0x7fff0, 19], [0x1ffc, 13], [0x3ffc, 14], [0x22, 6], // 90
  [0x7ffd, 15], [0x3, 5], [0x23, 6], [0x4, 5], [0x24, 6], [0x5, 5], // 96
  [0x25, 6], [0x26, 6], [0x27, 6], [0x6, 5], [0x74, 7], [0x75, 7], // 102
  [0x28, 6], [0x29, 6], [0x2a, 6], [0x7, 5], [0x2b, 6], [0x76, 7], // 108
  [0x2c, 6], [0x8, 5], [0x9, 5], [0x2d, 6], [0x77, 7], [0x78, 7], // 114
  [0x79, 7], [0x7a, 7], [0x7b, 7], [0x7ffe, 15], [0x7fc, 11], [0x3ffd, 14], // 120
  [0x1ffd, 13], [0xffffffc, 28], [0xfffe6, 20], [0x3fffd2, 22], [0xfffe7, 20], [0xfffe8, 20], // 126
  [0x3fffd3, 22], [0x3fffd4, 22], [0x3fffd5, 22], [0x7fffd9, 23], [0x3fffd6, 22], [0x7fffda, 23], // 132
  [0x7fffdb, 23], [0x7fffdc, 23], [0x7fffdd, 23], [0x7fffde, 23], [0xffffeb, 24], [0x7fffdf, 23], // 138
  [0xffffec, 24], [0xffffed, 24], [0x3fffd7, 22], [0x7fffe0, 23], [0xffffee, 24], [0x7fffe1, 23], // 144
  [0x7fffe2, 23], [0x7fffe3, 23], [0x7fffe4, 23], [0x1fffdc, 21], [0x3fffd8, 22], [0x7fffe5, 23], // 150
  [0x3fffd9, 22], [0x7fffe6, 23], [0x7fffe7, 23], [0xffffef, 24], [0x3fffda, 22], [0x1fffdd, 21], // 156
  [0xfffe9, 20], [0x3fffdb, 22], [0x3fffdc, 22], [0x7fffe8, 23], [0x7fffe9, 23], [0x1fffde, 21], // 162
  [0x7fffea, 23], [0x3fffdd, 22], [0x3fffde, 22], [0xfffff0, 24], [0x1fffdf, 21], [0x3fffdf, 22], // 168
  [0x7fffeb, 23], [0x7fffec, 23], [0x1fffe0, 21], [0x1fffe1, 21], [0x3fffe0, 22], [0x1fffe2, 21], // 174
  [0x7fffed, 23], [0x3fffe1, 22], [0x7fffee, 23], [0x7fffef, 23], [0xfffea, 20], [0x3fffe2, 22], // 180
  [0x3fffe3, 22], [0x3fffe4, 22], [0x7ffff0, 23], [0x3fffe5, 22], [0x3fffe6, 22], [0x7ffff1, 23], // 186
  [0x3ffffe0, 26], [0x3ffffe1, 26], [0xfffeb, 20], [0x7fff1, 19], [0x3fffe7, 22], [0x7ffff2, 23], // 192
  [0x3fffe8, 22], [0x1ffffec, 25], [0x3ffffe2, 26], [0x3ffffe3, 26], [0x3ffffe4, 26], [0x7ffffde, 27], // 198
  [0x7ffffdf, 27], [0x3ffffe5, 26], [0xfffff1, 24], [0x1ffffed, 25], [0x7fff2, 19], [0x1fffe3, 21], // 204
  [0x3ffffe6, 26], [0x7ffffe0, 27], [0x7ffffe1, 27], [0x3ffffe7, 26], [0x7ffffe2, 27], [0xfffff2, 24], // 210
  [0x1fffe4, 21], [0x1fffe5, 21], [0x3ffffe8, 26], [0x3ffffe9, 26], [0xffffffd, 28], [0x7ffffe3, 27], // 216
  [0x7ffffe4, 27], [0x7ffffe5, 27], [0xfffec, 20], [0xfffff3, 24], [0xfffed, 20], [0x1fffe6, 21], // 222
  [0x3fffe9, 22], [0x1fffe7, 21], [0x1fffe8, 21], [0x7ffff3, 23], [0x3fffea, 22], [0x3fffeb, 22], // 228
  [0x1ffffee, 25], [0x1ffffef, 25], [0xfffff4, 24], [0xfffff5, 24], [0x3ffffea, 26], [0x7ffff4, 23], // 234
  [0x3ffffeb, 26], [0x7ffffe6, 27], [0x3ffffec, 26], [0x3ffffed, 26], [0x7ffffe7, 27], [0x7ffffe8, 27], // 240
  [0x7ffffe9, 27], [0x7ffffea, 27], [0x7ffffeb, 27], [0xffffffe, 28], [0x7ffffec, 27], [0x7ffffed, 27], // 246
  [0x7ffffee, 27], [0x7ffffef, 27], [0x7fffff0, 27], [0x3ffffee, 26], [0x3fffffff, 30], // 252
];

interface Example {
  hex: string;
  headers: [string, string][];
  /** The dynamic table after decoding, newest first. */
  table: [string, string][];
  size: number;
}

/** Appendix C.3 to C.6: consecutive header blocks on one connection. */
const APPENDIX_C: Record<string, Example[]> = {
  'C.3': [
    {
      hex: '828684410f7777772e6578616d706c652e636f6d',
      headers: [
        [':method', 'GET'],
        [':scheme', 'http'],
        [':path', '/'],
        [':authority', 'www.example.com'],
      ],
      table: [[':authority', 'www.example.com']],
      size: 57,
    },
    {
      hex: '828684be58086e6f2d6361636865',
      headers: [
        [':method', 'GET'],
        [':scheme', 'http'],
        [':path', '/'],
        [':authority', 'www.example.com'],
        ['cache-control', 'no-cache'],
      ],
      table: [
        ['cache-control', 'no-cache'],
        [':authority', 'www.example.com'],
      ],
      size: 110,
    },
    {
      hex: '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565',
      headers: [
        [':method', 'GET'],
        [':scheme', 'https'],
        [':path', '/index.html'],
        [':authority', 'www.example.com'],
        ['custom-key', 'custom-value'],
      ],
      table: [
        ['custom-key', 'custom-value'],
        ['cache-control', 'no-cache'],
        [':authority', 'www.example.com'],
      ],
      size: 164,
    },
  ],
  'C.4': [
    {
      hex: '828684418cf1e3c2e5f23a6ba0ab90f4ff',
      headers: [
        [':method', 'GET'],
        [':scheme', 'http'],
        [':path', '/'],
        [':authority', 'www.example.com'],
      ],
      table: [[':authority', 'www.example.com']],
      size: 57,
    },
    {
      hex: '828684be5886a8eb10649cbf',
      headers: [
        [':method', 'GET'],
        [':scheme', 'http'],
        [':path', '/'],
        [':authority', 'www.example.com'],
        ['cache-control', 'no-cache'],
      ],
      table: [
        ['cache-control', 'no-cache'],
        [':authority', 'www.example.com'],
      ],
      size: 110,
    },
    {
      hex: '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf',
      headers: [
        [':method', 'GET'],
        [':scheme', 'https'],
        [':path', '/index.html'],
        [':authority', 'www.example.com'],
        ['custom-key', 'custom-value'],
      ],
      table: [
        ['custom-key', 'custom-value'],
        ['cache-control', 'no-cache'],
        [':authority', 'www.example.com'],
      ],
      size: 164,
    },
  ],
  'C.5': [
    {
      hex: '4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d',
      headers: [
        [':status', '302'],
        ['cache-control', 'private'],
        ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
        ['location', 'https://www.example.com'],
      ],
      table: [
        ['location', 'https://www.example.com'],
        ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
        ['cache-control', 'private'],
        [':status', '302'],
      ],
      size: 222,
    },
    {
      hex: '4803333037c1c0bf',
      headers: [
        [':status', '307'],
        ['cache-control', 'private'],
        ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
        ['location', 'https://www.example.com'],
      ],
      table: [
        [':status', '307'],
        ['location', 'https://www.example.com'],
        ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
        ['cache-control', 'private'],
      ],
      size: 222,
    },
    {
      hex: '88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31',
      headers: [
        [':status', '200'],
        ['cache-control', 'private'],
        ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
        ['location', 'https://www.example.com'],
        ['content-encoding', 'gzip'],
        ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
      ],
      table: [
        ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
        ['content-encoding', 'gzip'],
        ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
      ],
      size: 215,
    },
  ],
  'C.6': [
    {
      hex: '488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3',
      headers: [
        [':status', '302'],
        ['cache-control', 'private'],
        ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
        ['location', 'https://www.example.com'],
      ],
      table: [
        ['location', 'https://www.example.com'],
        ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
        ['cache-control', 'private'],
        [':status', '302'],
      ],
      size: 222,
    },
    {
      hex: '4883640effc1c0bf',
      headers: [
        [':status', '307'],
        ['cache-control', 'private'],
        ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
        ['location', 'https://www.example.com'],
      ],
      table: [
        [':status', '307'],
        ['location', 'https://www.example.com'],
        ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
        ['cache-control', 'private'],
      ],
      size: 222,
    },
    {
      hex: '88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007',
      headers: [
        [':status', '200'],
        ['cache-control', 'private'],
        ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
        ['location', 'https://www.example.com'],
        ['content-encoding', 'gzip'],
        ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
      ],
      table: [
        ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
        ['content-encoding', 'gzip'],
        ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
      ],
      size: 215,
    },
  ],
};

/** Every Huffman-coded string literal in Appendix C.4 and C.6. */
const HUFFMAN_LITERALS = [
  'f1e3c2e5f23a6ba0ab90f4ff',
  'a8eb10649cbf',
  '25a849e95ba97d7f',
  '25a849e95bb8e8b4bf',
  '6402',
  'aec3771a4b',
  'd07abe941054d444a8200595040b8166e082a62d1bff',
  '9d29ad171863c78f0b97c8e9ae82ae43d3',
  '640eff',
  'd07abe941054d444a8200595040b8166e084a62d1bff',
  '9bd9ab',
  '94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007',
];

// ---------------------------------------------------------------------------------------------------------------
// Helpers.

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function pairs(flat: string[]): [string, string][] {
  const list: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) list.push([flat[i]!, flat[i + 1]!]);
  return list;
}

function decodeBlock(decoder: HpackDecoder, block: Buffer, maxListSize = Number.POSITIVE_INFINITY) {
  const out: string[] = [];
  const size = decoder.decode(block, 0, block.length, out, maxListSize);
  return { list: pairs(out), size };
}

/** What decode() threw, or undefined. */
function decodeError(block: Buffer, decoder = new HpackDecoder()): unknown {
  try {
    decoder.decode(block, 0, block.length, [], Number.POSITIVE_INFINITY);
  } catch (err) {
    return err;
  }
  return undefined;
}

const listSize = (list: [string, string][]) =>
  list.reduce((sum, [n, v]) => sum + n.length + v.length + 32, 0);

/** xorshift32: a fixed seed gives the same "random" headers on every run. */
function random(seed: number) {
  let s = seed >>> 0 || 1;
  return (n: number): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}
type Random = ReturnType<typeof random>;

/**
 * A latin1 string as a field value may hold: printable ASCII, bytes 0x80-0xff, inner spaces and tabs (never first
 * or last).
 */
function randomValue(r: Random, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) {
    const kind = r(20);
    if (kind < 12) s += String.fromCharCode(0x61 + r(26));
    else if (kind < 16) s += String.fromCharCode(0x21 + r(94));
    else if (kind < 18 && i > 0 && i < length - 1) s += kind === 16 ? ' ' : '\t';
    else s += String.fromCharCode(0x80 + r(128));
  }
  return s;
}

const randomToken = (r: Random, length: number) =>
  Array.from({ length }, () => 'abcdefghijklmnopqrstuvwxyz0123456789-'[r(37)]).join('');

/** Rejects when `promise` takes longer than `ms`: a broken peer must fail the test, not hang it. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------------------------
// A bare HTTP/2 server: frames by hand, header blocks handed to the test.

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const HEADERS = 0x1;
const SETTINGS = 0x4;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
const SETTINGS_HEADER_TABLE_SIZE = 0x1;
const MAX_FRAME_SIZE = 16384;

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const f = Buffer.alloc(9 + payload.length);
  f.writeUIntBE(payload.length, 0, 3);
  f[3] = type;
  f[4] = flags;
  f.writeUInt32BE(streamId, 5);
  payload.copy(f, 9);
  return f;
}

/** A header block as HEADERS and CONTINUATION frames no larger than the default SETTINGS_MAX_FRAME_SIZE. */
function headerFrames(streamId: number, block: Buffer, flags: number): Buffer {
  const frames: Buffer[] = [];
  for (let at = 0; at === 0 || at < block.length; at += MAX_FRAME_SIZE) {
    const last = at + MAX_FRAME_SIZE >= block.length;
    const type = at === 0 ? HEADERS : CONTINUATION;
    const f = (at === 0 ? flags : 0) | (last ? END_HEADERS : 0);
    frames.push(frame(type, f, streamId, block.subarray(at, at + MAX_FRAME_SIZE)));
  }
  return Buffer.concat(frames);
}

interface RawConnection {
  socket: net.Socket;
  /** The connection's HPACK decoder, for the table size the server advertised. */
  decoder: HpackDecoder;
  /** The client's SETTINGS_HEADER_TABLE_SIZE (4096 until its SETTINGS say otherwise). */
  peerTableSize: number;
  /** For the test's own use: whether the size update the peer's setting calls for was sent. */
  sizeUpdateSent: boolean;
}

/**
 * A server on 127.0.0.1:0 that speaks just enough HTTP/2: checks the client preface, sends SETTINGS (with
 * SETTINGS_HEADER_TABLE_SIZE when `tableSize` is not the default 4096), ACKs the client's SETTINGS, joins HEADERS and CONTINUATION fragments (dropping padding and priority)
 * and calls `onBlock` with each whole header block. An exception in `onBlock` fails the test and drops the
 * connection, so that the client's pending requests fail rather than hang. Returns the port.
 */
async function rawServer(
  t: Test,
  tableSize: number,
  onBlock: (conn: RawConnection, streamId: number, block: Buffer) => void,
): Promise<number> {
  const settings = Buffer.alloc(tableSize === 4096 ? 0 : 6);
  if (tableSize !== 4096) {
    settings.writeUInt16BE(SETTINGS_HEADER_TABLE_SIZE, 0);
    settings.writeUInt32BE(tableSize, 2);
  }
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.write(frame(SETTINGS, 0, 0, settings));
    const conn: RawConnection = {
      socket,
      decoder: new HpackDecoder(tableSize),
      peerTableSize: 4096,
      sizeUpdateSent: false,
    };
    let buffered = Buffer.alloc(0);
    let prefaceSeen = false;
    let fragments: Buffer[] = [];
    let blockStream = 0;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      try {
        if (!prefaceSeen) {
          if (buffered.length < PREFACE.length) return;
          if (!buffered.subarray(0, PREFACE.length).equals(PREFACE)) throw new Error('bad client preface');
          buffered = buffered.subarray(PREFACE.length);
          prefaceSeen = true;
        }
        while (buffered.length >= 9) {
          const length = buffered.readUIntBE(0, 3);
          if (buffered.length < 9 + length) return;
          const type = buffered[3]!;
          const flags = buffered[4]!;
          const streamId = buffered.readUInt32BE(5) & 0x7fffffff;
          const payload = buffered.subarray(9, 9 + length);
          buffered = buffered.subarray(9 + length);
          if (type === SETTINGS && !(flags & ACK)) {
            for (let at = 0; at + 6 <= payload.length; at += 6) {
              if (payload.readUInt16BE(at) === SETTINGS_HEADER_TABLE_SIZE) {
                conn.peerTableSize = payload.readUInt32BE(at + 2);
              }
            }
            socket.write(frame(SETTINGS, ACK, 0, Buffer.alloc(0)));
          } else if (type === HEADERS) {
            let start = 0;
            let end = payload.length;
            if (flags & PADDED) {
              start = 1;
              end -= payload[0]!;
            }
            if (flags & PRIORITY) start += 5;
            fragments = [payload.subarray(start, end)];
            blockStream = streamId;
          } else if (type === CONTINUATION) {
            if (streamId !== blockStream) throw new Error('CONTINUATION on another stream');
            fragments.push(payload);
          }
          if ((type === HEADERS || type === CONTINUATION) && flags & END_HEADERS) {
            onBlock(conn, blockStream, Buffer.concat(fragments));
            fragments = [];
          }
        }
      } catch (err) {
        t.fail(`raw server: ${(err as Error).stack}`);
        socket.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as net.AddressInfo).port;
}

/** A node:http2 (nghttp2) client session to `port`, closed in teardown. */
function connectClient(
  t: Test,
  port: number,
  options: http2.ClientSessionOptions = {},
): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`, options);
  session.on('error', () => {});
  t.teardown(() => {
    session.destroy();
  });
  return session;
}

/** Sends `headers` and resolves with the response's raw header list (name, value, ...), as node received it. */
function request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
): Promise<{ headers: http2.IncomingHttpHeaders; raw: string[]; id: number }> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: true });
    // node passes the raw header list as a third argument, which its typings leave out.
    const onResponse = (headers: http2.IncomingHttpHeaders, _flags: number, raw: string[]) => {
      resolve({ headers, raw, id: req.id! });
      req.close();
    };
    req.on('response', onResponse as (headers: http2.IncomingHttpHeaders, flags: number) => void);
    req.on('error', reject);
    req.on('close', () => reject(new Error(`stream closed without a response (code ${req.rstCode})`)));
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The tests.

t.test('HpackError is a NodixProxyError with a stable code', async (t) => {
  const err = new HpackError('bad');
  t.type(err, NodixProxyError);
  t.type(err, Error);
  t.equal(err.code, 'NODIX_ERR_HPACK');
  t.equal(err.name, 'HpackError');
});

t.test('the static table is Appendix A', async (t) => {
  t.equal(STATIC_TABLE.length, 61);
  t.same(STATIC_TABLE[0], [':authority', '']);
  t.same(STATIC_TABLE[7], [':status', '200']);
  t.same(STATIC_TABLE[15], ['accept-encoding', 'gzip, deflate']);
  t.same(STATIC_TABLE[60], ['www-authenticate', '']);
});

t.test('C.1 integer representation', async (t) => {
  const buf = Buffer.alloc(8);
  t.same([...buf.subarray(0, encodeInteger(10, 5, 0, buf, 0))], [0x0a], 'C.1.1: 10 on a 5-bit prefix');
  t.same([...buf.subarray(0, encodeInteger(1337, 5, 0, buf, 0))], [0x1f, 0x9a, 0x0a], 'C.1.2: 1337, 5 bits');
  t.same([...buf.subarray(0, encodeInteger(42, 8, 0, buf, 0))], [0x2a], 'C.1.3: 42 on an 8-bit prefix');
  t.same([...buf.subarray(0, encodeInteger(30, 5, 0xe0, buf, 0))], [0xfe], 'flags kept above the prefix');
  t.same(
    [...buf.subarray(0, encodeInteger(31, 5, 0, buf, 0))],
    [0x1f, 0x00],
    'a full prefix needs a zero byte',
  );

  // The decoder reads 5-bit prefixes in dynamic table size updates.
  const decoder = new HpackDecoder(4096);
  decodeBlock(decoder, Buffer.from([0x20 | 10]));
  t.equal(decoder.tableCapacity, 10, 'C.1.1 decoded');
  decodeBlock(decoder, Buffer.from([0x3f, 0x9a, 0x0a]));
  t.equal(decoder.tableCapacity, 1337, 'C.1.2 decoded');
  decodeBlock(decoder, Buffer.from([0x3f, 0x80, 0x80, 0x00]));
  t.equal(decoder.tableCapacity, 31, 'zero-valued continuation bytes are allowed');
  decodeBlock(decoder, Buffer.from([0x3f, 0xe1, 0x1f]));
  t.equal(decoder.tableCapacity, 4096, 'a size update up to the limit');
});

t.test('C.2 header field representations', async (t) => {
  const cases: [string, string, [string, string][], [string, string][]][] = [
    [
      'C.2.1 literal with indexing',
      '400a637573746f6d2d6b65790d637573746f6d2d686561646572',
      [['custom-key', 'custom-header']],
      [['custom-key', 'custom-header']],
    ],
    ['C.2.2 literal without indexing', '040c2f73616d706c652f70617468', [[':path', '/sample/path']], []],
    ['C.2.3 literal never indexed', '100870617373776f726406736563726574', [['password', 'secret']], []],
    ['C.2.4 indexed', '82', [[':method', 'GET']], []],
  ];
  for (const [name, block, list, table] of cases) {
    const decoder = new HpackDecoder();
    const result = decodeBlock(decoder, hex(block));
    t.same(result.list, list, `${name}: header list`);
    t.equal(result.size, listSize(list), `${name}: header list size`);
    t.same(decoder.tableEntries(), table, `${name}: dynamic table`);
    t.equal(decoder.tableSize, listSize(table), `${name}: table size`);
  }
});

for (const [section, tableSize] of [
  ['C.3', 4096],
  ['C.4', 4096],
  ['C.5', 256],
  ['C.6', 256],
] as const) {
  t.test(`${section} consecutive header blocks, table of ${tableSize} bytes`, async (t) => {
    const decoder = new HpackDecoder(tableSize);
    APPENDIX_C[section]!.forEach((example, i) => {
      const result = decodeBlock(decoder, hex(example.hex));
      t.same(result.list, example.headers, `block ${i + 1}: header list`);
      t.equal(result.size, listSize(example.headers), `block ${i + 1}: header list size`);
      t.same(decoder.tableEntries(), example.table, `block ${i + 1}: dynamic table`);
      t.equal(decoder.tableSize, example.size, `block ${i + 1}: table size`);
    });
  });
}

t.test('a dynamic entry can be referred to many times', async (t) => {
  const decoder = new HpackDecoder();
  decodeBlock(decoder, hex('400a637573746f6d2d6b65790d637573746f6d2d686561646572'));
  t.same(decodeBlock(decoder, Buffer.from([0xbe, 0xbe])).list, [
    ['custom-key', 'custom-header'],
    ['custom-key', 'custom-header'],
  ]);
});

t.test('the dynamic table ring: wrap-around, growth, eviction, size updates', async (t) => {
  const decoder = new HpackDecoder(4096);
  // The model: the dynamic table as RFC 7541 §4 describes it, newest first.
  let model: [string, string][] = [];
  let capacity = 4096;
  const size = () => listSize(model);
  const evictTo = (limit: number) => {
    while (size() > limit) model.pop();
  };
  const r = random(7);
  for (let round = 0; round < 40; round++) {
    const chunks: Buffer[] = [];
    if (round % 5 === 0) {
      capacity = [0, 100, 340, 1000, 4096][r(5)]!;
      const b = Buffer.alloc(8);
      chunks.push(b.subarray(0, writeTableSizeUpdate(capacity, b, 0)));
      evictTo(capacity);
    }
    const expected: [string, string][] = [];
    for (let k = 0; k < 12; k++) {
      if (model.length > 0 && r(3) === 0) {
        // An indexed reference to a random dynamic entry.
        const i = r(model.length);
        const b = Buffer.alloc(8);
        chunks.push(b.subarray(0, encodeInteger(62 + i, 7, 0x80, b, 0)));
        expected.push(model[i]!);
      } else {
        const name = `n${r(50)}`;
        const value = randomValue(r, r(3) === 0 ? 200 + r(400) : r(40));
        const b = Buffer.alloc(fieldLength(name, value));
        const end = writeField(name, value, b, 0);
        // writeField wrote 0x00 (literal without indexing, literal name): make it "with incremental indexing".
        b[0] = 0x40;
        chunks.push(b.subarray(0, end));
        expected.push([name, value]);
        const entry = name.length + value.length + 32;
        if (entry > capacity) model = [];
        else {
          evictTo(capacity - entry);
          model.unshift([name, value]);
        }
      }
    }
    const result = decodeBlock(decoder, Buffer.concat(chunks));
    t.same(result.list, expected, `round ${round}: header list`);
    t.same(decoder.tableEntries(), model, `round ${round}: dynamic table`);
    t.equal(decoder.tableSize, size(), `round ${round}: table size`);
    t.equal(decoder.tableCapacity, capacity);
  }
});

t.test('eviction at the edges (RFC 7541 §4.4)', async (t) => {
  // Entries of exactly 50 bytes: literal with incremental indexing, literal name n, value of 50 - 32 - 1 bytes.
  const entry = (name: string, bytes: number) =>
    Buffer.concat([
      Buffer.from([0x40, 0x01, name.charCodeAt(0), bytes - 33]),
      Buffer.alloc(bytes - 33, 0x76),
    ]);
  const decoder = new HpackDecoder(4096);
  decodeBlock(decoder, Buffer.concat([Buffer.from([0x3f, 0x45]), entry('a', 50), entry('b', 50)]));
  t.equal(decoder.tableCapacity, 100);
  t.same(
    decoder.tableEntries().map(([n]) => n),
    ['b', 'a'],
    'two entries that fill the table exactly both stay',
  );
  decodeBlock(decoder, entry('c', 60));
  t.same(
    decoder.tableEntries().map(([n]) => n),
    ['c'],
    'a new entry evicts as many old ones as it needs',
  );
  t.equal(decoder.tableSize, 60);
  decodeBlock(decoder, entry('d', 100));
  t.same(
    decoder.tableEntries().map(([n]) => n),
    ['d'],
    'an entry as large as the table fits',
  );
  decodeBlock(decoder, entry('e', 101));
  t.same(decoder.tableEntries(), [], 'an entry larger than the table empties it');
  t.equal(decoder.tableSize, 0);
  decodeBlock(decoder, Buffer.concat([entry('f', 40), entry('g', 40)]));
  decodeBlock(decoder, Buffer.from([0x3f, 50 - 31]));
  t.equal(decoder.tableCapacity, 50);
  t.same(
    decoder.tableEntries().map(([n]) => n),
    ['g'],
    'a smaller size update evicts down to it',
  );
});

t.test('Huffman: every symbol is coded as Appendix B says', async (t) => {
  t.equal(APPENDIX_B.length, 257);
  const wrong: string[] = [];
  for (let sym = 0; sym < 256; sym++) {
    const [code, bits] = APPENDIX_B[sym]!;
    const bytes = Math.ceil(bits / 8);
    const pad = bytes * 8 - bits;
    // The code, MSB first, padded with one-bits.
    const expected = Buffer.alloc(bytes);
    expected.writeUIntBE(code * 2 ** pad + (2 ** pad - 1), 0, bytes);
    const s = String.fromCharCode(sym);
    const got = Buffer.alloc(8);
    const end = huffmanEncode(s, got, 0);
    if (!got.subarray(0, end).equals(expected)) wrong.push(`encode ${sym}`);
    if (huffmanEncodedLength(s) !== bytes) wrong.push(`length ${sym}`);
    if (huffmanDecode(expected, 0, bytes) !== s) wrong.push(`decode ${sym}`);
  }
  t.same(wrong, [], 'all 256 byte values');

  // EOS: 30 one-bits. Inside a string it is an error, whatever follows.
  t.type(decodeErrorOf(Buffer.from([0xff, 0xff, 0xff, 0xff])), HpackError, 'EOS alone');
  t.type(decodeErrorOf(Buffer.from([0x1f, 0xff, 0xff, 0xff, 0xff])), HpackError, 'EOS after a symbol');
  t.equal(huffmanDecode(Buffer.alloc(0), 0, 0), '', 'the empty string');
});

function decodeErrorOf(coded: Buffer): unknown {
  try {
    huffmanDecode(coded, 0, coded.length);
  } catch (err) {
    return err;
  }
  return undefined;
}

t.test('Huffman: the literals of Appendix C.4 and C.6 re-encode to the same bytes', async (t) => {
  for (const literal of HUFFMAN_LITERALS) {
    const coded = hex(literal);
    const s = huffmanDecode(coded, 0, coded.length);
    const again = Buffer.alloc(huffmanEncodedLength(s));
    t.equal(huffmanEncode(s, again, 0), again.length);
    t.equal(again.toString('hex'), literal, JSON.stringify(s));
  }
});

t.test('Huffman: random latin1 strings round-trip', async (t) => {
  const r = random(20240601);
  let failures = 0;
  let dst = Buffer.alloc(0);
  for (let i = 0; i < 2000; i++) {
    const length = r(4) === 0 ? r(2000) : r(40);
    let s = '';
    // Some strings only from the long codes (control and high bytes), where codes cross byte boundaries most.
    const high = r(3) === 0;
    for (let k = 0; k < length; k++) s += String.fromCharCode(high ? (r(2) ? r(32) : 128 + r(128)) : r(256));
    const n = huffmanEncodedLength(s);
    if (dst.length < n + 2) dst = Buffer.alloc(n + 2);
    dst[1] = 0xaa;
    dst[n + 1] = 0xaa;
    const end = huffmanEncode(s, dst, 1);
    if (end !== n + 1 || dst[n + 1] !== 0xaa || huffmanDecode(dst, 1, end) !== s) failures++;
  }
  t.equal(failures, 0, '2000 strings');
});

t.test('every decoding error is an HpackError', async (t) => {
  const cases: [string, Buffer, HpackDecoder?][] = [
    ['indexed field with index 0', Buffer.from([0x80])],
    ['index beyond the static table (empty dynamic table)', Buffer.from([0xbe])],
    ['index beyond static and dynamic tables', hex('400161016282bf')],
    ['literal name index beyond the tables', Buffer.from([0x7e, 0x01, 0x61])],
    ['integer above 2^31 - 1', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])],
    ['integer with too many continuation bytes', Buffer.from([0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00])],
    ['string length past the end', Buffer.from([0x40, 0x05, 0x61, 0x62, 0x63, 0x64])],
    ['value length past the end', Buffer.from([0x04, 0x7f, 0x10, 0x61])],
    ['Huffman string with EOS', Buffer.from([0x04, 0x84, 0xff, 0xff, 0xff, 0xff])],
    ['Huffman padding longer than 7 bits', Buffer.from([0x04, 0x82, 0x1f, 0xff])],
    ['Huffman padding not all ones', Buffer.from([0x04, 0x81, 0x18])],
    ['size update above the advertised maximum', Buffer.from([0x3f, 0xe2, 0x1f])],
    ['size update above a smaller maximum', Buffer.from([0x3f, 0xe2, 0x01]), new HpackDecoder(256)],
    ['size update after a header field', Buffer.from([0x82, 0x20])],
    ['block ends inside a prefix integer', Buffer.from([0x82, 0xff])],
    ['block ends before a literal name', Buffer.from([0x40])],
    ['block ends before a value', Buffer.from([0x40, 0x01, 0x61])],
    ['block ends inside a string length', Buffer.from([0x04, 0x7f])],
  ];
  // "003" is 16 bits long: a whole byte of one-bits after it is padding of 8 bits.
  const code003 = Buffer.alloc(2);
  huffmanEncode('003', code003, 0);
  cases.push([
    'Huffman padding of exactly 8 bits',
    Buffer.from([0x04, 0x83, code003[0]!, code003[1]!, 0xff]),
  ]);
  for (const [name, block, decoder] of cases) {
    const err = decodeError(block, decoder);
    t.type(err, HpackError, name);
    t.equal((err as HpackError | undefined)?.code, 'NODIX_ERR_HPACK', `${name}: code`);
  }
  // Integers are refused as such, before their use would be.
  t.match(decodeError(Buffer.from([0x3f, 0xe1, 0xff, 0xff, 0xff, 0x07]), new HpackDecoder(0x7fffffff)), {
    message: /integer too large/,
  });
  t.equal(
    decodeError(Buffer.from([0x3f, 0xe0, 0xff, 0xff, 0xff, 0x07]), new HpackDecoder(0x7fffffff)),
    undefined,
  );
  t.match(decodeError(Buffer.from([0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00])), {
    message: /integer too long/,
  });
  // The block ends at `end`, not at the end of the buffer.
  const inBuffer = Buffer.from([0x40, 0x01, 0x61, 0x01, 0x62, 0x63]);
  t.throws(() => new HpackDecoder().decode(inBuffer, 0, 4, [], 1000), HpackError, 'string runs past end');
  t.throws(() => new HpackDecoder().decode(inBuffer, 0, 1, [], 1000), HpackError, 'name length past end');
  t.throws(() => new HpackDecoder().decode(Buffer.from([0x3f, 0x01]), 0, 1, [], 1000), HpackError, 'integer');
  // The same shapes, one step short of wrong, decode.
  t.equal(decodeError(Buffer.from([0x3f, 0xe1, 0x1f])), undefined, 'size update to the maximum');
  t.equal(decodeError(Buffer.from([0x20, 0x3f, 0xe1, 0x1f, 0x82])), undefined, 'two size updates first');
  t.equal(decodeError(Buffer.from([0xbd])), undefined, 'index 61');
  t.equal(decodeError(Buffer.from([0x04, 0x81, 0x1f])), undefined, 'Huffman "a" with 3 bits of padding');
  t.equal(decodeError(Buffer.from([0x04, 0x80])), undefined, 'empty Huffman string');
  t.equal(decodeError(Buffer.alloc(0)), undefined, 'empty block');
});

t.test('maxListSize: nothing pushed past the limit, the table kept in step', async (t) => {
  const decoder = new HpackDecoder();
  const big = 'v'.repeat(100);
  const field = (name: string, value: string, flags: number) => {
    const b = Buffer.alloc(fieldLength(name, value));
    const end = writeField(name, value, b, 0);
    b[0] = flags; // literal name: 0x40 indexes it, 0x00 does not
    return b.subarray(0, end);
  };
  // :method GET (42), then x-big (137, added to the table), then :path / (38), then x-small (added).
  const block = Buffer.concat([
    Buffer.from([0x82]),
    field('x-big', big, 0x40),
    Buffer.from([0x84]),
    field('x-small', '1', 0x40),
  ]);
  const out: string[] = [];
  const size = decoder.decode(block, 0, block.length, out, 100);
  t.equal(size, 42 + 137 + 38 + 40, 'the whole list size');
  t.same(out, [':method', 'GET'], 'only the fields within the limit, and none after the one past it');
  t.same(decoder.tableEntries(), [
    ['x-small', '1'],
    ['x-big', big],
  ]);
  // The next block refers to both entries the refused block added.
  const next: string[] = [];
  t.equal(decoder.decode(Buffer.from([0xbf, 0xbe]), 0, 2, next, 1000), 137 + 40);
  t.same(next, ['x-big', big, 'x-small', '1'], 'in step with the encoder');
  const exact: string[] = [];
  t.equal(decoder.decode(Buffer.from([0x82]), 0, 1, exact, 42), 42);
  t.same(exact, [':method', 'GET'], 'a list exactly at the limit is whole');
});

t.test('decode reads only block[start, end)', async (t) => {
  const decoder = new HpackDecoder();
  const block = Buffer.concat([
    Buffer.from([0xff, 0xff]),
    hex('828684410f7777772e6578616d706c652e636f6d'),
    hex('ff'),
  ]);
  const out: string[] = [];
  decoder.decode(block, 2, block.length - 1, out, 10_000);
  t.same(pairs(out), APPENDIX_C['C.3']![0]!.headers);
});

t.test('encodeStatus', async (t) => {
  const buf = Buffer.alloc(8);
  for (const [status, index] of [
    [200, 8],
    [204, 9],
    [206, 10],
    [304, 11],
    [400, 12],
    [404, 13],
    [500, 14],
  ]) {
    t.same([...buf.subarray(0, encodeStatus(status!, buf, 0))], [0x80 | index!], `${status} indexed`);
  }
  t.same([...buf.subarray(0, encodeStatus(302, buf, 0))], [0x08, 0x03, 0x33, 0x30, 0x32], '302 literal');
  const decoder = new HpackDecoder();
  for (const status of [100, 101, 200, 201, 302, 307, 410, 503, 599, 999]) {
    const end = encodeStatus(status, buf, 1);
    t.same(decodeBlock(decoder, buf.subarray(1, end)).list, [[':status', String(status)]], `${status}`);
  }
  t.same(decoder.tableEntries(), [], 'never indexed in the table');
});

t.test('writeField: what HpackDecoder reads back, within fieldLength', async (t) => {
  const r = random(99);
  const decoder = new HpackDecoder();
  const names = [
    'content-type',
    'set-cookie',
    'authorization',
    'x-request-id',
    randomToken(r, 200),
    'etag',
    'age',
  ];
  let over = 0;
  for (let i = 0; i < 300; i++) {
    const name = names[r(names.length)]!;
    const value = r(4) === 0 ? randomValue(r, r(3000)) : randomValue(r, r(30));
    const buf = Buffer.alloc(fieldLength(name, value) + 4);
    const end = writeField(name, value, buf, 2);
    if (end - 2 > fieldLength(name, value)) over++;
    t.same(decodeBlock(decoder, buf.subarray(2, end)).list, [[name, value]]);
    t.equal(buf[2]! & 0xe0, 0, 'literal without indexing or never indexed');
  }
  t.equal(over, 0, 'never more than fieldLength');
  t.same(decoder.tableEntries(), []);
  const buf = Buffer.alloc(64);
  writeField('set-cookie', 'a=b', buf, 0);
  t.equal(buf[0]! & 0xf0, 0x10, 'set-cookie never indexed');
  writeField('content-type', 'text/html', buf, 0);
  t.same([buf[0]], [0x0f], 'content-type (index 31) by its static index: 0x0f, 0x10');
  t.equal(buf[1], 31 - 15);
  const end = writeField('x-ab', '\xff\xff', buf, 0);
  t.same([...buf.subarray(0, 2)], [0x00, 0x80 | 3], 'literal name, Huffman-coded when shorter (24 bits)');
  t.same([...buf.subarray(end - 3, end)], [0x02, 0xff, 0xff], 'value raw when Huffman is longer (52 bits)');
});

// ---------------------------------------------------------------------------------------------------------------
// Interop with nghttp2's encoder: node:http2 requests decoded by HpackDecoder.

const REQUEST_NAMES = [
  'accept',
  'accept-language',
  'user-agent',
  'referer',
  'cache-control',
  'if-none-match',
  'x-request-id',
  'x-forwarded-for',
  'x-custom-a',
  'x-custom-b',
];

/** A request's headers: repeated names and values (indexed by nghttp2), new ones, cookie crumbs, big values. */
function randomRequest(r: Random, i: number, seen: string[]): http2.OutgoingHttpHeaders {
  const headers: http2.OutgoingHttpHeaders = {
    ':path':
      r(3) === 0
        ? '/'
        : `/${randomToken(r, 1 + r(30))}?q=${randomValue(r, r(20)).replace(/[^\x21-\x7e]/g, '')}`,
    ':method': ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'][r(5)]!,
  };
  const value = (max: number) => {
    if (seen.length > 0 && r(5) < 2) return seen[r(seen.length)]!;
    const v = randomValue(r, 1 + r(max));
    seen.push(v);
    return v;
  };
  const fields = 1 + r(10);
  for (let k = 0; k < fields; k++) {
    const name = r(8) === 0 ? `x-${randomToken(r, 1 + r(20))}` : REQUEST_NAMES[r(REQUEST_NAMES.length)]!;
    if (name.startsWith('x-') && r(4) === 0) headers[name] = [value(60), value(60)];
    else headers[name] = value(r(6) === 0 ? 600 : 60);
  }
  if (r(3) === 0)
    headers.cookie = Array.from({ length: 1 + r(4) }, () => `${randomToken(r, 4)}=${value(30)}`);
  if (i % 7 === 3) {
    headers['x-secret'] = randomToken(r, 20);
    // nghttp2 sends these never indexed; node's typings have no symbol keys on the headers object.
    Object.assign(headers, { [http2.sensitiveHeaders]: ['x-secret'] });
  }
  if (i % 11 === 5) headers.authorization = `Bearer ${randomToken(r, 40)}`;
  // Bigger than nghttp2 indexes (3/4 of the table), and now and then more than one frame (CONTINUATION).
  if (i % 25 === 10) headers['x-huge'] = randomValue(r, i % 50 === 10 ? 20_000 : 3500);
  // Medium values that are indexed and push older entries out.
  if (i % 3 === 0) headers['x-medium'] = randomValue(r, 300 + r(900));
  return headers;
}

/** The fields node sends for `headers`, sorted by name (a stable sort: crumbs and repeats keep their order). */
function expectedFields(headers: http2.OutgoingHttpHeaders, port: number): [string, string][] {
  const list: [string, string][] = [
    [':authority', `127.0.0.1:${port}`],
    [':scheme', 'http'],
  ];
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) list.push([name, String(v)]);
  }
  return sortFields(list);
}

const sortFields = (list: [string, string][]) =>
  list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

async function requestsDecode(t: Test, tableSize: number, count: number, seed: number) {
  const decoded = new Map<number, [string, string][]>();
  const everInTable = new Set<string>();
  let largestTable = 0;
  let wrongSizes = 0;
  let decoder: HpackDecoder | undefined;
  const port = await rawServer(t, tableSize, (conn, streamId, block) => {
    decoder = conn.decoder;
    const result = decodeBlock(decoder, block);
    if (result.size !== listSize(result.list)) wrongSizes++;
    decoded.set(streamId, result.list);
    for (const [n, v] of decoder.tableEntries()) everInTable.add(`${n}\0${v}`);
    largestTable = Math.max(largestTable, decoder.tableSize);
    conn.socket.write(headerFrames(streamId, Buffer.from([0x88]), END_STREAM));
  });
  const session = connectClient(t, port);
  // With a smaller table, wait for it to be known: nghttp2 then opens its first block with a size update.
  if (tableSize !== 4096)
    await within(5000, 'remote settings', new Promise((resolve) => session.once('remoteSettings', resolve)));
  const r = random(seed);
  const seen: string[] = [];
  const sent = Array.from({ length: count }, (_, i) => randomRequest(r, i, seen));
  const responses = await within(
    10_000,
    `${count} requests`,
    Promise.all(sent.map((headers) => request(session, headers))),
  );
  let mismatches = 0;
  responses.forEach(({ id, headers }, i) => {
    const got = sortFields([...(decoded.get(id) ?? [])]);
    const want = expectedFields(sent[i]!, port);
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      mismatches++;
      if (mismatches <= 3) t.same(got, want, `request ${i} (stream ${id})`);
    }
    t.equal(headers[':status'], 200);
  });
  t.equal(mismatches, 0, `all ${count} header lists decoded as sent`);
  t.equal(wrongSizes, 0, 'header list sizes');
  t.equal(decoded.size, count, 'every request seen');
  t.ok(largestTable <= tableSize && largestTable > tableSize / 2, `table filled (${largestTable} bytes)`);
  t.ok(everInTable.size > decoder!.tableEntries().length, 'entries were evicted');
}

t.test('nghttp2 requests decode as sent (4096-byte table)', async (t) => {
  await requestsDecode(t, 4096, 200, 1);
});

t.test('nghttp2 requests decode as sent (256-byte table: size update, constant eviction)', async (t) => {
  await requestsDecode(t, 256, 80, 2);
});

// ---------------------------------------------------------------------------------------------------------------
// Interop with nghttp2's decoder: responses written by encodeStatus and writeField, read by node:http2.

interface Response {
  status: number;
  fields: [string, string][];
}

function responseCases(): Response[] {
  const r = random(4242);
  const latin1 = Array.from({ length: 128 }, (_, i) => String.fromCharCode(0x80 + i)).join('');
  const cases: Response[] = [
    { status: 200, fields: [] },
    {
      status: 200,
      fields: [
        ['content-type', 'text/html; charset=utf-8'],
        ['cache-control', 'private, max-age=0'],
        ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
        ['server', 'nodix'],
        ['set-cookie', 'a=1; Path=/; HttpOnly'],
        ['set-cookie', 'b=2; Max-Age=3600'],
        ['x-request-id', '0123456789abcdef'],
        ['vary', 'accept-encoding'],
        ['content-length', '0'],
      ],
    },
    { status: 204, fields: [['x-empty', '']] },
    { status: 302, fields: [['location', 'https://www.example.com/a/b?c=d']] },
    {
      status: 404,
      fields: [
        ['content-type', 'text/plain'],
        ['x-latin1', `a${latin1}z`],
      ],
    },
    {
      status: 503,
      fields: [
        ['retry-after', '120'],
        ['www-authenticate', 'Basic realm="x"'],
      ],
    },
    { status: 599, fields: [[`x-${randomToken(r, 300)}`, randomValue(r, 5000)]] },
    {
      status: 206,
      fields: [
        ['content-range', 'bytes 0-0/1'],
        ['etag', '"abc"'],
        ['x-a', '1'],
        ['x-a', '2'],
      ],
    },
    { status: 304, fields: [['etag', 'W/"1"']] },
    { status: 400, fields: [] },
    { status: 500, fields: [['x-long', randomValue(r, 20_000)]] },
    {
      status: 201,
      fields: [
        ['authorization', 'secret'],
        ['proxy-authorization', 'secret too'],
      ],
    },
  ];
  const names = ['content-type', 'etag', 'x-powered-by', 'access-control-allow-origin', 'link', 'x-trace'];
  for (let i = 0; i < 60; i++) {
    const fields: [string, string][] = [];
    for (let k = r(15); k > 0; k--) {
      const name = r(4) === 0 ? `x-${randomToken(r, 1 + r(40))}` : names[r(names.length)]!;
      fields.push([name, randomValue(r, r(5) === 0 ? 1 + r(2000) : 1 + r(50))]);
    }
    cases.push({ status: [200, 201, 301, 302, 403, 404, 418, 500, 502][r(9)]!, fields });
  }
  return cases;
}

async function responsesDecode(t: Test, clientOptions: http2.ClientSessionOptions) {
  const cases = responseCases();
  let overLength = 0;
  const port = await rawServer(t, 4096, (conn, streamId, block) => {
    const path = decodeBlock(conn.decoder, block).list.find(([n]) => n === ':path')![1];
    const response = cases[Number(path.slice(1))]!;
    let bound = 6;
    for (const [n, v] of response.fields) bound += fieldLength(n, v);
    const buf = Buffer.alloc(bound);
    let end = 0;
    // The client's table is smaller than 4096: it must hear so first (RFC 7541 §4.2).
    if (conn.peerTableSize < 4096 && !conn.sizeUpdateSent) {
      end = writeTableSizeUpdate(0, buf, end);
      conn.sizeUpdateSent = true;
    }
    end = encodeStatus(response.status, buf, end);
    for (const [n, v] of response.fields) {
      const start = end;
      end = writeField(n, v, buf, end);
      if (end - start > fieldLength(n, v)) overLength++;
    }
    conn.socket.write(headerFrames(streamId, buf.subarray(0, end), END_STREAM));
  });
  const session = connectClient(t, port, clientOptions);
  if (clientOptions.settings) {
    await within(
      5000,
      'settings acknowledged',
      new Promise((resolve) => session.once('localSettings', resolve)),
    );
  }
  const results = await within(
    10_000,
    `${cases.length} responses`,
    Promise.all(cases.map((_, i) => request(session, { ':path': `/${i}` }))),
  );
  let mismatches = 0;
  results.forEach(({ headers, raw }, i) => {
    const { status, fields } = cases[i]!;
    const want = [':status', String(status), ...fields.flat()];
    if (JSON.stringify(raw) !== JSON.stringify(want)) {
      mismatches++;
      if (mismatches <= 3) t.same(raw, want, `response ${i}`);
    }
    t.equal(headers[':status'], status);
    const cookies = fields.filter(([n]) => n === 'set-cookie').map(([, v]) => v);
    if (cookies.length > 0) {
      t.same(headers['set-cookie'], cookies, 'set-cookie kept apart');
      const sensitive = (headers as Record<symbol, string[] | undefined>)[http2.sensitiveHeaders];
      t.ok(sensitive?.includes('set-cookie'), 'set-cookie sent never indexed');
    }
  });
  t.equal(mismatches, 0, `all ${cases.length} responses received as written`);
  t.equal(overLength, 0, 'fieldLength is an upper bound');
}

t.test('nghttp2 reads encodeStatus and writeField responses', async (t) => {
  await responsesDecode(t, {});
});

t.test('a client that shrinks its table gets a size update first', async (t) => {
  await responsesDecode(t, { settings: { headerTableSize: 0 } });
});
