/**
 * Differential conformance for HTTP/2: the same frames, after the connection preface, a client SETTINGS and the
 * ACK of the server's, through nodix's own HTTP/2 code (h2-fast.ts), nodix on node:http2 (h2.ts, `fastPath:
 * false`) and nginx 1.22 (`listen ... ssl http2`), all three in front of one recording upstream (h2-harness.ts).
 * Per case and front end the observation is: per stream the response (status, fields, body) or the reset, what
 * became of the connection (GOAWAY and its code, closed), whether the connection still serves (a GET on stream
 * PROBE_ID and a PING after the case's frames), and what reached the upstream.
 *
 * The two nodix paths must agree exactly; each must agree with nginx or the difference is listed, with its
 * reason, in h2-differences.ts. Besides, where a case has an `rfc` outcome (the RFC table below), the fast path is
 * held to it on its own, so that no listed difference can hide a regression; and a fast path that sends GOAWAY
 * for an error must close the connection. A fast path that is wrong fails the suite; so do entries no case
 * needs (CONFORMANCE_STRICT=0 makes those a comment).
 *
 * H2_CONFORMANCE_DUMP=/tmp/h2.json writes every view (and nginx's error log, its reasons, next to it).
 */
import { writeFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import { block, FRAME, frame, settings, u32 } from '../h2-raw.js';
import { FAST_NODE_DIFFERENCES, type Listed, NGINX_DIFFERENCES } from './h2-differences.js';
import {
  clientAddress,
  connectionView,
  exactView,
  FRONTS,
  type FrontName,
  type H2Case,
  HOST,
  inBatches,
  makeCert,
  nginxView,
  type Observation,
  outcome,
  PROBE_ID,
  play,
  type Step,
  startNginx,
  startNodix,
  Upstream,
} from './h2-harness.js';
import { sleep } from './harness.js';

const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
const BOTH = END_STREAM | END_HEADERS;
const CANCEL = 8;

type Fields = [string, string][];

/** The pseudo-headers of a request (`:authority` a.test), then `extra`. */
const req = (method = 'GET', path = '/echo', extra: Fields = []): Fields => [
  [':method', method],
  [':scheme', 'https'],
  [':authority', HOST],
  [':path', path],
  ...extra,
];
const without = (fields: Fields, name: string): Fields => fields.filter(([n]) => n !== name);
const H = (id: number, fields: Fields, flags = BOTH) => frame(FRAME.HEADERS, flags, id, block(fields));
const D = (id: number, data: string | Buffer, flags = 0) => frame(FRAME.DATA, flags, id, Buffer.from(data));
const WU = (id: number, increment: number) => frame(FRAME.WINDOW_UPDATE, 0, id, u32(increment));
const RST = (id: number, code: number) => frame(FRAME.RST_STREAM, 0, id, u32(code));
const bytes = (...b: number[]) => Buffer.from(b);
/**
 * A GET of /slow (answered after 300 ms) on stream 1, and a pause until it reached the upstream: what follows
 * finds the stream open and its request forwarded, on every front end (without the pause, whether a request is
 * forwarded before a connection error is read behind it depends on the upstream pool having an idle connection).
 */
const inFlight = (): Step[] => [H(1, req('GET', '/slow')), { sleep: 100 }];
const cat = (...parts: (Buffer | string)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));

const cases: H2Case[] = [];
const add = (name: string, steps: Step[], extra: Partial<H2Case> = {}) =>
  cases.push({ name, steps, ...extra });

// --- valid requests: every front end must serve them --------------------------------------------------------
add('valid/get', [H(1, req())]);
add('valid/get-query', [H(1, req('GET', '/echo?x=1&y=%20z'))]);
add('valid/head', [H(1, req('HEAD'))]);
add('valid/post-content-length', [
  H(1, req('POST', '/echo', [['content-length', '5']]), END_HEADERS),
  D(1, 'hello', END_STREAM),
]);
add('valid/post-no-content-length', [H(1, req('POST'), END_HEADERS), D(1, 'hello', END_STREAM)]);
add('valid/post-many-data', [
  H(1, req('POST'), END_HEADERS),
  D(1, 'one,'),
  D(1, 'two,'),
  D(1, 'three', END_STREAM),
]);
add('valid/post-many-data-content-length', [
  H(1, req('POST', '/echo', [['content-length', '13']]), END_HEADERS),
  D(1, 'one,'),
  D(1, 'two,'),
  D(1, 'three', END_STREAM),
]);
add('valid/post-empty-data-end', [H(1, req('POST'), END_HEADERS), D(1, '', END_STREAM)]);
add('valid/post-ended-by-headers', [H(1, req('POST'))]);
add('valid/post-content-length-0-ended-by-headers', [H(1, req('POST', '/echo', [['content-length', '0']]))]);
{
  const head = block(req('GET', '/echo', [['x-long', 'v'.repeat(3000)]]));
  add('valid/continuation', [
    frame(FRAME.HEADERS, END_STREAM, 1, head.subarray(0, 10)),
    frame(FRAME.CONTINUATION, 0, 1, head.subarray(10, 2000)),
    frame(FRAME.CONTINUATION, END_HEADERS, 1, head.subarray(2000)),
  ]);
  add('valid/continuation-empty-fragment', [
    frame(FRAME.HEADERS, END_STREAM, 1, head.subarray(0, 100)),
    frame(FRAME.CONTINUATION, 0, 1, Buffer.alloc(0)),
    frame(FRAME.CONTINUATION, END_HEADERS, 1, head.subarray(100)),
  ]);
}
// PADDED (3 bytes of padding) and PRIORITY (dependency 0, weight 16) on HEADERS.
add('valid/headers-padded-priority', [
  frame(
    FRAME.HEADERS,
    BOTH | PADDED | PRIORITY,
    1,
    cat(bytes(3), bytes(0, 0, 0, 0, 16), block(req()), bytes(0, 0, 0)),
  ),
]);
add('valid/data-padded', [
  H(1, req('POST'), END_HEADERS),
  frame(FRAME.DATA, END_STREAM | PADDED, 1, cat(bytes(4), 'body', bytes(0, 0, 0, 0))),
]);
add('valid/data-padded-empty', [
  H(1, req('POST', '/echo', [['content-length', '4']]), END_HEADERS),
  frame(FRAME.DATA, PADDED, 1, cat(bytes(10), Buffer.alloc(10))),
  D(1, 'body', END_STREAM),
]);
add('valid/trailers', [H(1, req('POST'), END_HEADERS), D(1, 'body'), H(1, [['x-trailer', 'done']])]);
add('valid/trailers-after-content-length', [
  H(1, req('POST', '/echo', [['content-length', '4']]), END_HEADERS),
  D(1, 'body'),
  H(1, [['x-trailer', 'done']]),
]);
add('valid/cookie-crumbs', [
  H(
    1,
    req('GET', '/echo', [
      ['cookie', 'a=1'],
      ['cookie', 'b=2'],
      ['x-other', 'x'],
      ['cookie', 'c=3'],
    ]),
  ),
]);
add('valid/options-star', [H(1, req('OPTIONS', '*'))]);
add('valid/te-trailers', [H(1, req('GET', '/echo', [['te', 'trailers']]))]);
add('valid/host-instead-of-authority', [
  H(1, [
    [':method', 'GET'],
    [':scheme', 'https'],
    [':path', '/echo'],
    ['host', HOST],
  ]),
]);
add('valid/authority-and-same-host', [H(1, req('GET', '/echo', [['host', HOST]]))]);
add('valid/unknown-host', [H(1, [...without(req(), ':authority'), [':authority', 'other.test']])]);
add('valid/custom-method', [H(1, req('PURGE', '/echo'))]);
add('valid/delete', [H(1, req('DELETE', '/echo'))]);
add('valid/put-content-length', [
  H(1, req('PUT', '/echo', [['content-length', '3']]), END_HEADERS),
  D(1, 'abc', END_STREAM),
]);
add('valid/connect', [
  H(1, [
    [':method', 'CONNECT'],
    [':authority', 'a.test:443'],
  ]),
]);
// RFC 7541: indexed static fields (:method GET, :scheme https, :path /) and :authority with incremental indexing.
add('valid/hpack-static-indexed', [
  frame(FRAME.HEADERS, BOTH, 1, cat(bytes(0x82, 0x87, 0x84, 0x41, HOST.length), HOST)),
]);
// Stream 1 adds :authority and x-dyn to the dynamic table; stream 3 refers to them (62: x-dyn, 63: :authority).
add('valid/hpack-dynamic-table', [
  frame(
    FRAME.HEADERS,
    BOTH,
    1,
    cat(bytes(0x82, 0x87, 0x84, 0x41, HOST.length), HOST, bytes(0x40, 5), 'x-dyn', bytes(1), '1'),
  ),
  frame(FRAME.HEADERS, BOTH, 3, bytes(0x82, 0x87, 0x84, 0xbf, 0xbe)),
]);
// RFC 7541 C.4.1: "www.example.com" Huffman-coded.
add('valid/hpack-huffman-value', [
  frame(
    FRAME.HEADERS,
    BOTH,
    1,
    cat(
      block(req('GET', '/echo')),
      bytes(0x00, 6),
      'cookie',
      bytes(0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff),
    ),
  ),
]);
add('valid/hpack-table-size-update', [
  frame(FRAME.HEADERS, BOTH, 1, cat(bytes(0x20), block(req()))), // size update to 0 first
]);
add('valid/big-response', [WU(0, 1 << 20), H(1, req('GET', '/big'))], { settings: [[4, 1 << 20]] });
add('valid/big-response-window-updates', [
  H(1, req('GET', '/big')),
  { sleep: 150 },
  WU(1, 40_000),
  WU(0, 40_000),
  { sleep: 50 },
]);
add('valid/status-204', [H(1, req('GET', '/204'))]);
add('valid/status-304', [H(1, req('GET', '/304', [['if-none-match', '"v1"']]))]);
add('valid/chunked-response', [H(1, req('GET', '/chunked'))]);
add('valid/head-chunked-response', [H(1, req('HEAD', '/chunked'))]);
add('valid/set-cookie', [H(1, req('GET', '/set-cookie'))]);
add('valid/slow', [H(1, req('GET', '/slow'))]);
add('valid/two-streams', [H(1, req('GET', '/slow')), H(3, req('GET', '/echo?second'))]);
add('valid/settings-table-size-0', [H(1, req())], { settings: [[1, 0]] });
add('valid/settings-unknown-id', [settings([[0x99, 7]]), H(1, req())]);
add('valid/settings-max-frame-size', [WU(0, 1 << 20), H(1, req('GET', '/big'))], {
  settings: [
    [4, 1 << 20],
    [5, 1 << 20],
  ],
});
add('valid/priority-frame', [frame(FRAME.PRIORITY, 0, 3, bytes(0, 0, 0, 0, 200)), H(1, req()), H(3, req())]);
add('valid/unknown-frame-types', [
  frame(0xfa, 0, 0, Buffer.from('abc')),
  frame(0xfb, 0xff, 1, Buffer.from('xyz')),
  H(1, req()),
  frame(0xfc, 0, 1, Buffer.alloc(0)),
]);
add('valid/window-update-open-stream', [...inFlight(), WU(1, 1000), WU(0, 1000)]);
add('valid/rst-stream-in-flight', [...inFlight(), RST(1, CANCEL)]);
add('valid/rst-stream-after-response', [H(1, req()), { wait: 1 }, RST(1, CANCEL)]);
add('valid/client-goaway', [frame(FRAME.GOAWAY, 0, 0, cat(u32(0), u32(0)))], { probe: false });
add('valid/ping-ack-from-client', [frame(FRAME.PING, 0x1, 0, Buffer.alloc(8)), H(1, req())]);

// --- malformed requests (RFC 9113 §8.1.1: a stream error of type PROTOCOL_ERROR) ------------------------------
add('malformed/uppercase-name', [H(1, req('GET', '/echo', [['X-Upper', '1']]))]);
add('malformed/name-with-space', [H(1, req('GET', '/echo', [['bad name', '1']]))]);
add('malformed/name-with-colon-inside', [H(1, req('GET', '/echo', [['x:a', '1']]))]);
add('malformed/empty-name', [H(1, req('GET', '/echo', [['', '1']]))]);
add('malformed/value-with-nul', [H(1, req('GET', '/echo', [['x-a', 'a\0b']]))]);
add('malformed/value-with-lf', [H(1, req('GET', '/echo', [['x-a', 'a\nb']]))]);
add('malformed/value-with-cr', [H(1, req('GET', '/echo', [['x-a', 'a\rb']]))]);
add('malformed/value-leading-space', [H(1, req('GET', '/echo', [['x-a', ' a']]))]);
add('malformed/connection', [H(1, req('GET', '/echo', [['connection', 'keep-alive']]))]);
add('malformed/keep-alive', [H(1, req('GET', '/echo', [['keep-alive', 'timeout=5']]))]);
add('malformed/proxy-connection', [H(1, req('GET', '/echo', [['proxy-connection', 'keep-alive']]))]);
add('malformed/upgrade', [H(1, req('GET', '/echo', [['upgrade', 'websocket']]))]);
add('malformed/transfer-encoding', [
  H(1, req('POST', '/echo', [['transfer-encoding', 'chunked']]), END_HEADERS),
  D(1, 'hello', END_STREAM),
]);
add('malformed/te-gzip', [H(1, req('GET', '/echo', [['te', 'gzip']]))]);
add('malformed/missing-path', [H(1, without(req(), ':path'))]);
add('malformed/empty-path', [H(1, [...without(req(), ':path'), [':path', '']])]);
add('malformed/missing-method', [H(1, without(req(), ':method'))]);
add('malformed/missing-scheme', [H(1, without(req(), ':scheme'))]);
add('malformed/duplicate-method', [H(1, [...req(), [':method', 'GET']])]);
add('malformed/duplicate-path', [H(1, [...req(), [':path', '/other']])]);
add('malformed/unknown-pseudo', [H(1, [...req(), [':foo', 'bar']])]);
add('malformed/status-in-request', [H(1, [...req(), [':status', '200']])]);
add('malformed/pseudo-after-regular', [
  H(1, [
    [':method', 'GET'],
    ['x-a', '1'],
    [':scheme', 'https'],
    [':authority', HOST],
    [':path', '/echo'],
  ]),
]);
add('malformed/content-length-invalid', [
  H(1, req('POST', '/echo', [['content-length', '1x']]), END_HEADERS),
  D(1, 'a', END_STREAM),
]);
add('malformed/content-length-less-data', [
  H(1, req('POST', '/echo', [['content-length', '10']]), END_HEADERS),
  D(1, 'hello', END_STREAM),
]);
add('malformed/content-length-more-data', [
  H(1, req('POST', '/echo', [['content-length', '2']]), END_HEADERS),
  D(1, 'hello', END_STREAM),
]);
add('malformed/content-length-ended-by-headers', [H(1, req('POST', '/echo', [['content-length', '4']]))]);
add('malformed/content-length-twice-same', [
  H(
    1,
    req('POST', '/echo', [
      ['content-length', '5'],
      ['content-length', '5'],
    ]),
    END_HEADERS,
  ),
  D(1, 'hello', END_STREAM),
]);
add('malformed/trailers-with-pseudo', [
  H(1, req('POST'), END_HEADERS),
  D(1, 'body'),
  H(1, [
    [':path', '/x'],
    ['x-trailer', '1'],
  ]),
]);
add('malformed/trailers-without-end-stream', [
  H(1, req('POST'), END_HEADERS),
  D(1, 'body'),
  H(1, [['x-trailer', '1']], END_HEADERS),
  D(1, 'more', END_STREAM),
]);
add('malformed/host-differs-from-authority', [H(1, req('GET', '/echo', [['host', 'b.test']]))]);
add('malformed/path-not-origin-form', [H(1, req('GET', 'echo'))]);

// --- frames out of place (RFC 9113 §5, §6) ----------------------------------------------------------------------
add('frame/data-on-closed-stream', [H(1, req()), { wait: 1 }, D(1, 'x', END_STREAM)]);
add('frame/data-on-half-closed-stream', [...inFlight(), D(1, 'x', END_STREAM)]);
add('frame/data-on-idle-stream', [D(9, 'x', END_STREAM)]);
add('frame/data-on-stream-0', [D(0, 'x')]);
add('frame/data-padding-too-long', [
  H(1, req('POST'), END_HEADERS),
  frame(FRAME.DATA, END_STREAM | PADDED, 1, cat(bytes(200), 'body')),
]);
add('frame/headers-even-stream-id', [H(2, req())]);
add('frame/headers-stream-0', [H(0, req())]);
add('frame/headers-stream-id-reused', [H(1, req()), { wait: 1 }, H(1, req('GET', '/echo?again'))]);
add('frame/headers-stream-id-lower', [H(5, req()), H(3, req('GET', '/echo?lower'))]);
add('frame/headers-on-half-closed-stream', [...inFlight(), H(1, req('GET', '/echo?again'))]);
add('frame/headers-padding-too-long', [
  frame(FRAME.HEADERS, BOTH | PADDED, 1, cat(bytes(250), block(req()))),
]);
add('frame/headers-self-dependency', [
  frame(FRAME.HEADERS, BOTH | PRIORITY, 1, cat(bytes(0, 0, 0, 1, 16), block(req()))),
]);
add('frame/headers-too-large', [
  H(1, req('GET', '/echo', [['x-big', 'b'.repeat(16_400)]]), END_HEADERS | END_STREAM),
]);
add('frame/priority-self-dependency', [frame(FRAME.PRIORITY, 0, 3, bytes(0, 0, 0, 3, 16)), H(1, req())]);
add('frame/priority-wrong-size', [frame(FRAME.PRIORITY, 0, 3, bytes(0, 0, 0, 0)), H(1, req())]);
add('frame/priority-stream-0', [frame(FRAME.PRIORITY, 0, 0, bytes(0, 0, 0, 1, 16))]);
add('frame/window-update-0-stream', [...inFlight(), WU(1, 0)]);
add('frame/window-update-0-connection', [WU(0, 0)]);
add('frame/window-overflow-stream', [...inFlight(), WU(1, 0x7fffffff)]);
add('frame/window-overflow-connection', [WU(0, 0x7fffffff)]);
add('frame/window-update-wrong-size', [frame(FRAME.WINDOW_UPDATE, 0, 0, bytes(0, 0, 1))]);
add('frame/window-update-idle-stream', [WU(7, 100)]);
add('frame/settings-initial-window-too-large', [settings([[4, 0x80000000]])]);
add('frame/settings-enable-push-2', [settings([[2, 2]])]);
add('frame/settings-max-frame-size-too-small', [settings([[5, 16_383]])]);
add('frame/settings-max-frame-size-too-large', [settings([[5, 1 << 24]])]);
add('frame/settings-length-not-multiple-of-6', [frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(5))]);
add('frame/settings-ack-with-payload', [frame(FRAME.SETTINGS, 0x1, 0, Buffer.alloc(6))]);
add('frame/settings-on-stream', [frame(FRAME.SETTINGS, 0, 1, Buffer.alloc(0))]);
add('frame/ping-wrong-size', [frame(FRAME.PING, 0, 0, Buffer.alloc(7))]);
add('frame/ping-on-stream', [frame(FRAME.PING, 0, 1, Buffer.alloc(8))]);
add('frame/data-too-large', [H(1, req('POST'), END_HEADERS), D(1, Buffer.alloc(16_385, 'x'), END_STREAM)]);
add('frame/rst-stream-idle', [RST(5, CANCEL)]);
add('frame/rst-stream-0', [RST(0, CANCEL)]);
add('frame/rst-stream-wrong-size', [...inFlight(), frame(FRAME.RST_STREAM, 0, 1, bytes(0, 0, 8))]);
add('frame/push-promise', [frame(FRAME.PUSH_PROMISE, END_HEADERS, 1, cat(u32(2), block(req())))]);
add('frame/goaway-on-stream', [frame(FRAME.GOAWAY, 0, 1, cat(u32(0), u32(0)))], { probe: false });
{
  const head = block(req());
  add('frame/continuation-without-headers', [frame(FRAME.CONTINUATION, END_HEADERS, 1, head)]);
  add('frame/continuation-after-end-headers', [
    ...inFlight(),
    frame(FRAME.CONTINUATION, END_HEADERS, 1, block([['x-a', '1']])),
  ]);
  add('frame/ping-inside-header-block', [
    frame(FRAME.HEADERS, END_STREAM, 1, head.subarray(0, 8)),
    frame(FRAME.PING, 0, 0, Buffer.alloc(8)),
    frame(FRAME.CONTINUATION, END_HEADERS, 1, head.subarray(8)),
  ]);
  add('frame/data-inside-header-block', [
    frame(FRAME.HEADERS, 0, 1, head.subarray(0, 8)),
    D(1, 'x'),
    frame(FRAME.CONTINUATION, END_HEADERS, 1, head.subarray(8)),
  ]);
  add('frame/continuation-other-stream', [
    frame(FRAME.HEADERS, END_STREAM, 1, head.subarray(0, 8)),
    frame(FRAME.CONTINUATION, END_HEADERS, 3, head.subarray(8)),
  ]);
  add('frame/unknown-type-inside-header-block', [
    frame(FRAME.HEADERS, END_STREAM, 1, head.subarray(0, 8)),
    frame(0xfa, 0, 0, Buffer.from('abc')),
    frame(FRAME.CONTINUATION, END_HEADERS, 1, head.subarray(8)),
  ]);
}

// --- HPACK (RFC 7541; a decoding error is a connection error COMPRESSION_ERROR, RFC 9113 §4.3) ------------------
add('hpack/index-out-of-range', [frame(FRAME.HEADERS, BOTH, 1, bytes(0xff, 0x7f))]);
add('hpack/index-0', [frame(FRAME.HEADERS, BOTH, 1, cat(block(req()), bytes(0x80)))]);
add('hpack/truncated-string', [frame(FRAME.HEADERS, BOTH, 1, cat(block(req()), bytes(0x00, 0x05), 'ab'))]);
add('hpack/table-size-update-too-large', [
  frame(FRAME.HEADERS, BOTH, 1, cat(bytes(0x3f, 0xe2, 0x1f), block(req()))), // 4097
]);
add('hpack/table-size-update-after-field', [frame(FRAME.HEADERS, BOTH, 1, cat(block(req()), bytes(0x20)))]);
add('hpack/huffman-bad-padding', [
  // "a" is 00011 (5 bits): padded with zeros instead of the EOS prefix (ones).
  frame(FRAME.HEADERS, BOTH, 1, cat(block(req()), bytes(0x00, 3), 'x-a', bytes(0x81, 0x18))),
]);

// --- what RFC 9113 requires of the fast path, case by case ---------------------------------------------------

/** A stream error: stream `id` reset with `code`, the connection still serving (the probe answered). */
const streamError = (code = 'PROTOCOL_ERROR', id = 1, more: Record<number, string> = {}) => ({
  streams: { [id]: `rst ${code}`, [PROBE_ID]: '200', ...more },
  connection: 'open',
});
/** A connection error: GOAWAY with `code`. */
const connectionError = (code: string) => ({ connection: `GOAWAY ${code}` });

/**
 * The outcome RFC 9113 requires (where it lets a stream error be a connection error, §5.4.1, the one the fast path
 * chose), checked on the fast path whatever the other front ends do.
 */
const RFC: Record<string, H2Case['rfc']> = {
  'valid/unknown-frame-types': { streams: { 1: '200', [PROBE_ID]: '200' }, connection: 'open' },
  'valid/priority-frame': { streams: { 1: '200', 3: '200' }, connection: 'open' },
  'frame/data-on-half-closed-stream': streamError('STREAM_CLOSED'),
  'frame/data-on-idle-stream': connectionError('PROTOCOL_ERROR'),
  'frame/data-on-stream-0': connectionError('PROTOCOL_ERROR'),
  'frame/data-padding-too-long': connectionError('PROTOCOL_ERROR'),
  'frame/headers-even-stream-id': connectionError('PROTOCOL_ERROR'),
  'frame/headers-stream-0': connectionError('PROTOCOL_ERROR'),
  'frame/headers-stream-id-reused': connectionError('PROTOCOL_ERROR'),
  'frame/headers-stream-id-lower': connectionError('PROTOCOL_ERROR'),
  'frame/headers-on-half-closed-stream': streamError('STREAM_CLOSED'),
  'frame/headers-padding-too-long': connectionError('PROTOCOL_ERROR'),
  'frame/headers-self-dependency': connectionError('PROTOCOL_ERROR'),
  'frame/headers-too-large': connectionError('FRAME_SIZE_ERROR'),
  'frame/priority-self-dependency': streamError('PROTOCOL_ERROR', 3, { 1: '200' }),
  'frame/priority-wrong-size': streamError('FRAME_SIZE_ERROR', 3, { 1: '200' }),
  'frame/priority-stream-0': connectionError('PROTOCOL_ERROR'),
  'frame/window-update-0-stream': streamError(),
  'frame/window-update-0-connection': connectionError('PROTOCOL_ERROR'),
  'frame/window-overflow-stream': streamError('FLOW_CONTROL_ERROR'),
  'frame/window-overflow-connection': connectionError('FLOW_CONTROL_ERROR'),
  'frame/window-update-wrong-size': connectionError('FRAME_SIZE_ERROR'),
  'frame/window-update-idle-stream': connectionError('PROTOCOL_ERROR'),
  'frame/settings-initial-window-too-large': connectionError('FLOW_CONTROL_ERROR'),
  'frame/settings-enable-push-2': connectionError('PROTOCOL_ERROR'),
  'frame/settings-max-frame-size-too-small': connectionError('PROTOCOL_ERROR'),
  'frame/settings-max-frame-size-too-large': connectionError('PROTOCOL_ERROR'),
  'frame/settings-length-not-multiple-of-6': connectionError('FRAME_SIZE_ERROR'),
  'frame/settings-ack-with-payload': connectionError('FRAME_SIZE_ERROR'),
  'frame/settings-on-stream': connectionError('PROTOCOL_ERROR'),
  'frame/ping-wrong-size': connectionError('FRAME_SIZE_ERROR'),
  'frame/ping-on-stream': connectionError('PROTOCOL_ERROR'),
  'frame/data-too-large': connectionError('FRAME_SIZE_ERROR'),
  'frame/rst-stream-idle': connectionError('PROTOCOL_ERROR'),
  'frame/rst-stream-0': connectionError('PROTOCOL_ERROR'),
  'frame/rst-stream-wrong-size': connectionError('FRAME_SIZE_ERROR'),
  'frame/push-promise': connectionError('PROTOCOL_ERROR'),
  'frame/goaway-on-stream': connectionError('PROTOCOL_ERROR'),
  'frame/continuation-without-headers': connectionError('PROTOCOL_ERROR'),
  'frame/continuation-after-end-headers': connectionError('PROTOCOL_ERROR'),
  'frame/ping-inside-header-block': connectionError('PROTOCOL_ERROR'),
  'frame/data-inside-header-block': connectionError('PROTOCOL_ERROR'),
  'frame/continuation-other-stream': connectionError('PROTOCOL_ERROR'),
  'frame/unknown-type-inside-header-block': connectionError('PROTOCOL_ERROR'),
};
for (const c of cases) {
  // Malformed requests are stream errors (§8.1.1); a bad Host or target may be answered 400 instead (route.ts).
  if (c.name.startsWith('malformed/') && !/host-differs|not-origin-form/.test(c.name))
    RFC[c.name] = streamError();
  // A field block that cannot be decoded is a connection error COMPRESSION_ERROR (§4.3).
  if (c.name.startsWith('hpack/')) RFC[c.name] = connectionError('COMPRESSION_ERROR');
  c.rfc = RFC[c.name];
}

// --- running and judging ------------------------------------------------------------------------------------

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function find<T extends Listed>(list: readonly T[], name: string): T | undefined {
  return list.find((d) => (typeof d.match === 'string' ? d.match === name : d.match.test(name)));
}

t.test('HTTP/2: fast path = node:http2 path, and each = nginx or an allowed difference', async (t) => {
  const names = new Set(cases.map((c) => c.name));
  t.equal(names.size, cases.length, 'case names are unique');
  const cert = makeCert(t);
  const upstream = new Upstream();
  await upstream.listen(t);
  const nginx = await startNginx(t, upstream, cert);
  const fronts = [
    await startNodix(t, upstream, cert, true),
    await startNodix(t, upstream, cert, false),
    nginx,
  ];
  const played = await inBatches(cases, 8, (c, i) =>
    Promise.all(fronts.map((front, f) => play(front, cert, c, clientAddress(f, i)))),
  );
  // Upstream requests still on their way (a /slow answer, a request cut off) settle.
  await sleep(400);
  const observed = new Map<string, Record<FrontName, Observation>>();
  cases.forEach((c, i) => {
    const entry = {} as Record<FrontName, Observation>;
    FRONTS.forEach((name, f) => {
      entry[name] = { ...played[i]![f]!, upstream: upstream.records.get(clientAddress(f, i)) ?? [] };
    });
    observed.set(c.name, entry);
  });
  const dump = process.env.H2_CONFORMANCE_DUMP;
  if (dump) {
    // For a look at what each front end did: the views, and nginx's error log (its reasons).
    const views = [...observed].map(([name, o]) => [
      name,
      {
        fast: exactView(o.fast),
        node: exactView(o.node),
        nginxFast: nginxView(o.fast),
        nginxNode: nginxView(o.node),
        nginx: nginxView(o.nginx),
      },
    ]);
    writeFileSync(dump, JSON.stringify(Object.fromEntries(views), null, 1));
    writeFileSync(`${dump}.nginx-error.log`, nginx.errorLog());
  }
  judge(t, observed);
});

function judge(t: Test, observed: Map<string, Record<FrontName, Observation>>): void {
  const used = new Set<Listed>();
  let nodeDiffers = 0;
  let nginxDiffers = 0;
  const byName = new Map(cases.map((c) => [c.name, c]));
  for (const [name, o] of observed) {
    // RFC 9113 on its own: what the case requires of the fast path, and a connection error closes the connection.
    const rfc = byName.get(name)!.rfc;
    if (rfc !== undefined) {
      const seen = {
        streams: Object.fromEntries(
          Object.keys(rfc.streams ?? {}).map((id) => [id, outcome(o.fast, Number(id))]),
        ),
        connection: rfc.connection === undefined ? undefined : connectionView(o.fast),
      };
      const want = { streams: rfc.streams ?? {}, connection: rfc.connection };
      if (same(seen, want)) t.pass(`${name}: fast path as RFC 9113 requires`);
      else {
        t.same(seen, want, `${name}: fast path as RFC 9113 requires`);
      }
    }
    if (o.fast.goaways.some(([, code]) => code !== 0) && !o.fast.closed) {
      t.fail(`${name}: the fast path closes the connection after a GOAWAY for an error (RFC 9113 §5.4.1)`);
    }

    // fast path = node:http2 path, exactly (or a difference RFC 9113 allows, listed).
    const fast = exactView(o.fast);
    const node = exactView(o.node);
    const pathsAgree = same(fast, node);
    if (!pathsAgree) {
      nodeDiffers++;
      const allowed = find(FAST_NODE_DIFFERENCES, name);
      if (allowed === undefined) {
        t.same(fast, node, `${name}: fast path = node:http2 path`);
      } else {
        used.add(allowed);
        t.pass(`${name}: fast path ≠ node:http2 path (allowed: ${allowed.reason})`);
      }
    } else t.pass(`${name}: fast path = node:http2 path`);

    // nodix = nginx (or listed). Where the two nodix paths differ by an allowed difference, that entry says what
    // node:http2 does; nginx is held against the fast path.
    const reference = nginxView(o.nginx);
    const fastView = nginxView(o.fast);
    if (same(fastView, reference)) t.pass(`${name}: nodix = nginx`);
    else {
      nginxDiffers++;
      const allowed = find(NGINX_DIFFERENCES, name);
      if (allowed !== undefined) {
        used.add(allowed);
        t.pass(`${name}: differs from nginx (allowed: ${allowed.reason})`);
      } else {
        t.same(fastView, reference, `${name}: nodix = nginx`);
      }
    }
  }
  t.comment(`${observed.size} cases; fast≠node ${nodeDiffers}; ≠nginx ${nginxDiffers}`);
  const strict = process.env.CONFORMANCE_STRICT !== '0';
  const stale = [...FAST_NODE_DIFFERENCES, ...NGINX_DIFFERENCES].filter((d) => !used.has(d));
  const report = (message: string) => (strict ? t.fail(message) : t.comment(`STALE ${message}`));
  if (stale.length > 0)
    report(
      `h2-differences entries no case needs (remove them): ${stale.map((d) => String(d.match)).join(', ')}`,
    );
}
