/**
 * The machinery of the HTTP/2 differential suite (h2-conformance.test.ts): one recording upstream, three TLS
 * front ends in front of it (nodix with its own HTTP/2 code, nodix on node:http2, nginx with `ssl http2`), all
 * with one test certificate, and a raw frame client (h2-raw.ts) that plays a case's frames against a front end
 * and writes down what happened: per stream the response or the reset, what became of the connection, and what
 * reached the upstream.
 *
 * Who sent what: every (case, front end) connection comes from its own loopback address (127.41.x.y, 127.42.x.y,
 * 127.43.x.y; all of 127/8 is local on Linux), and every front end puts the peer address in X-Forwarded-For, so
 * the one upstream can book each request to its case while cases run concurrently.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  type AddressInfo,
  createServer as createNetServer,
  connect as netConnect,
  type Socket,
} from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { HpackDecoder } from '../../src/http2/hpack.js';
import { createProxy, type NodixProxy } from '../../src/index.js';
import { type Ca, type Leaf, makeCa, makeLeaf } from '../certs.js';
import { FRAME, type Frame, frame, get, PREFACE, RawH2, settings as settingsFrame } from '../h2-raw.js';
import { NGINX, nginxPreamble, sleep, type Teardown, waitListening } from './harness.js';

export const HOST = 'a.test';

/** Error codes by number (RFC 9113 §7). */
export const CODE_NAMES: Record<number, string> = {
  0: 'NO_ERROR',
  1: 'PROTOCOL_ERROR',
  2: 'INTERNAL_ERROR',
  3: 'FLOW_CONTROL_ERROR',
  4: 'SETTINGS_TIMEOUT',
  5: 'STREAM_CLOSED',
  6: 'FRAME_SIZE_ERROR',
  7: 'REFUSED_STREAM',
  8: 'CANCEL',
  9: 'COMPRESSION_ERROR',
  10: 'CONNECT_ERROR',
  11: 'ENHANCE_YOUR_CALM',
  12: 'INADEQUATE_SECURITY',
  13: 'HTTP_1_1_REQUIRED',
};
const codeName = (code: number) => CODE_NAMES[code] ?? `code ${code}`;

// --- the certificate --------------------------------------------------------------------------------------------

export interface Cert {
  ca: Ca;
  leaf: Leaf;
  dir: string;
}

export function makeCert(t: Teardown): Cert {
  const dir = mkdtempSync(join(tmpdir(), 'nodix-h2conf-certs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ca = makeCa(dir);
  return { ca, leaf: makeLeaf(ca, { names: [HOST] }), dir };
}

// --- the upstream -------------------------------------------------------------------------------------------

/** One request as the upstream (node:http) read it. */
export interface UpRequest {
  method: string;
  url: string;
  /** Header lines in order, names as sent. */
  headers: [string, string][];
  framing: 'length' | 'chunked' | 'none';
  body: Buffer;
  /** The body ended (false: the proxy cut the request off). */
  complete: boolean;
}

/** 100 KB of a pattern that is not all one byte (a reordering would show in the hash). */
export const BIG = Buffer.from(
  Array.from({ length: 100 * 1024 }, (_, i) => String.fromCharCode(97 + ((i * 7 + (i >> 10)) % 26))).join(''),
  'latin1',
);

export class Upstream {
  readonly server: Server;
  port = 0;
  /** Requests by client address (the last X-Forwarded-For element). */
  readonly records = new Map<string, UpRequest[]>();
  readonly sockets = new Set<Socket>();

  constructor() {
    this.server = createServer((req, res) => this.#serve(req, res));
    this.server.keepAliveTimeout = 30_000;
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  async listen(t: Teardown): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    t.teardown(async () => {
      this.server.closeAllConnections();
      for (const s of this.sockets) s.destroy();
      await new Promise((resolve) => this.server.close(resolve));
    });
  }

  #serve(req: IncomingMessage, res: ServerResponse): void {
    const headers: [string, string][] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
    const xff = req.headers['x-forwarded-for'];
    const client = typeof xff === 'string' ? xff.split(',').at(-1)!.trim() : '?';
    const record: UpRequest = {
      method: req.method ?? '?',
      url: req.url ?? '?',
      headers,
      framing:
        req.headers['transfer-encoding'] !== undefined
          ? 'chunked'
          : req.headers['content-length'] !== undefined
            ? 'length'
            : 'none',
      body: Buffer.alloc(0),
      complete: false,
    };
    const list = this.records.get(client) ?? [];
    list.push(record);
    this.records.set(client, list);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      chunks.push(c);
      record.body = Buffer.concat(chunks);
    });
    req.on('error', () => {});
    res.on('error', () => {});
    req.on('end', () => {
      record.complete = true;
      respond(req, res, record);
    });
  }
}

/** The upstream's answers, by path (the query is ignored). Every answer carries `x-up: 1`. */
function respond(req: IncomingMessage, res: ServerResponse, record: UpRequest): void {
  const path = (req.url ?? '/').split('?')[0]!;
  const send = (status: number, headers: Record<string, string | string[]>, body: Buffer | string = '') => {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    res.writeHead(status, { 'x-up': '1', ...headers, 'content-length': String(bytes.length) });
    res.end(bytes);
  };
  const echo = () =>
    send(
      200,
      { 'content-type': 'application/json' },
      JSON.stringify({
        method: record.method,
        url: record.url,
        host: req.headers.host ?? null,
        cookie: req.headers.cookie ?? null,
        te: req.headers.te ?? null,
        length: record.body.length,
        sha: createHash('sha256').update(record.body).digest('hex').slice(0, 12),
      }),
    );
  if (path === '/big') send(200, { 'content-type': 'application/octet-stream' }, BIG);
  else if (path === '/204') {
    res.writeHead(204, { 'x-up': '1' });
    res.end();
  } else if (path === '/304') {
    res.writeHead(304, { 'x-up': '1', etag: '"v1"' });
    res.end();
  } else if (path === '/chunked') {
    // No content-length: chunked, in three writes.
    res.writeHead(200, { 'x-up': '1', 'content-type': 'text/plain' });
    const parts = ['one,', 'two,', 'three'];
    let i = 0;
    const next = () => {
      if (res.destroyed) return;
      if (i === parts.length) res.end();
      else {
        res.write(parts[i++]);
        setTimeout(next, 5);
      }
    };
    next();
  } else if (path === '/set-cookie') {
    send(200, { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2; Path=/', 'c=3; Secure'] }, 'ok');
  } else if (path === '/slow') {
    setTimeout(() => {
      if (!res.destroyed) echo();
    }, 300);
  } else echo();
}

// --- front ends ---------------------------------------------------------------------------------------------

export type FrontName = 'fast' | 'node' | 'nginx';
export const FRONTS: readonly FrontName[] = ['fast', 'node', 'nginx'];

export interface Front {
  name: FrontName;
  port: number;
}

/** nodix with a TLS listener on 127.0.0.1:0 for HOST (its certificate also the default), fast path on or off. */
export async function startNodix(
  t: Teardown,
  upstream: Upstream,
  cert: Cert,
  fastPath: boolean,
): Promise<Front> {
  const tls = { cert: cert.leaf.certFile, key: cert.leaf.keyFile };
  const proxy: NodixProxy = createProxy({
    listen: '127.0.0.1:0',
    listenTls: '127.0.0.1:0',
    adminListen: null,
    log: () => {},
    metrics: { defaultMetrics: false },
    routeTable: {
      version: 1,
      hosts: { [HOST]: { upstreams: [`http://127.0.0.1:${upstream.port}`], tls } },
      defaultTls: tls,
    },
    fastPath,
  });
  t.teardown(() => proxy.close({ timeoutMs: 0 }));
  await proxy.listen();
  const port = (proxy.tls!.server.address() as AddressInfo).port;
  return { name: fastPath ? 'fast' : 'node', port };
}

/** A free port on 127.0.0.1 (nginx cannot be told to pick one and say which). */
async function freePort(): Promise<number> {
  const probe = createNetServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * The nginx the suite compares against: one process, HTTP/2 over TLS with the same certificate, HTTP/1.1 to a
 * keep-alive upstream, Host `$host`, the X-Forwarded-* headers nodix sets for an untrusted peer, request bodies
 * streamed as nodix does (proxy_request_buffering off), an unknown host answered 404 by a default server (as
 * nodix does). Header limits: large_client_header_buffers 4 16k (nodix's maxHeaderSize is 16 KB; in 1.22 this
 * directive also bounds HTTP/2 fields, http2_max_field_size and http2_max_header_size being obsolete).
 */
export function nginxConfig(dir: string, port: number, upstreamPort: number, cert: Cert): string {
  const listen = `127.0.0.1:${port} ssl http2`;
  return `${nginxPreamble(dir, 'info')}
  ssl_certificate ${cert.leaf.certFile};
  ssl_certificate_key ${cert.leaf.keyFile};
  ssl_session_cache off;
  ssl_session_tickets off;
  large_client_header_buffers 4 16k;
  proxy_http_version 1.1;
  proxy_request_buffering off;
  proxy_set_header Connection "";
  proxy_set_header Host $host;
  proxy_set_header X-Forwarded-For $remote_addr;
  proxy_set_header X-Forwarded-Proto $scheme;
  proxy_set_header X-Forwarded-Host $host;
  upstream up {
    server 127.0.0.1:${upstreamPort};
    keepalive 16;
  }
  server { listen ${listen} default_server; return 404; }
  server {
    listen ${listen};
    server_name ${HOST};
    location / { proxy_pass http://up; }
  }
}
`;
}

/** nginx in front of `upstream`, stopped by its process at teardown. `errorLog()` reads its error log. */
export async function startNginx(
  t: Teardown,
  upstream: Upstream,
  cert: Cert,
): Promise<Front & { errorLog: () => string }> {
  const dir = mkdtempSync(join(tmpdir(), 'nodix-h2conf-nginx-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const errorLog = () => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port, upstream.port, cert));
    const child: ChildProcess = spawn(
      NGINX,
      ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')],
      { stdio: 'ignore' },
    );
    const exited = once(child, 'exit');
    t.teardown(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    });
    if (await waitListening(port, child)) return { name: 'nginx', port, errorLog };
    if (attempt >= 2 || !errorLog().includes('Address already in use'))
      throw new Error(`nginx did not start: ${errorLog().trim()}`);
  }
}

// --- cases and the client that plays them -----------------------------------------------------------------

/** What a case does after the preface, its SETTINGS and the ACK of the server's SETTINGS. */
export type Step =
  /** Frames, written at once. */
  | Buffer
  /** Wait until the server ended this stream (END_STREAM) or reset it. */
  | { wait: number }
  /** Pause, ms. */
  | { sleep: number };

export interface H2Case {
  name: string;
  /** The client's SETTINGS after the preface (default: none). */
  settings?: [number, number][];
  steps: Step[];
  /**
   * After the steps, in the same write as the last frames: a GET on stream PROBE_ID (is the connection still
   * serving?) and a PING (have all frames before it been read?). Default true.
   */
  probe?: boolean;
  /** Give up waiting for streams after this long, ms (default 2000). */
  capMs?: number;
  /**
   * What RFC 9113 requires, held against the fast path on its own (so that no allowed difference can hide a
   * regression): stream outcomes as `outcome` spells them, and the connection as `connectionView` does.
   */
  rfc?: { streams?: Record<number, string>; connection?: string };
}

export const PROBE_ID = 101;
const PING_PAYLOAD = Buffer.from('nodixend', 'latin1');

/** One stream as the client saw it. */
export interface StreamSeen {
  /** Response header lists (the first is the response head, a later one trailers), flat [name, value, ...]. */
  blocks: string[][];
  body: Buffer;
  /** END_STREAM came. */
  ended: boolean;
  /** RST_STREAM codes the server sent on it. */
  rst: number[];
}

export interface Observation {
  streams: Map<number, StreamSeen>;
  /** GOAWAY frames: [last stream id, code]. */
  goaways: [number, number][];
  /** The server closed the connection. */
  closed: boolean;
  /** The PING after the steps was answered. */
  pinged: boolean;
  /** What the upstream received from this connection, in arrival order. */
  upstream: UpRequest[];
}

/** Stream ids of the HEADERS and DATA frames in `bytes` (frames as the case wrote them). */
function streamIds(bytes: Buffer, into: Set<number>): void {
  let at = 0;
  while (at + 9 <= bytes.length) {
    const length = bytes.readUIntBE(at, 3);
    const type = bytes[at + 3]!;
    const id = bytes.readUInt32BE(at + 5) & 0x7fffffff;
    if (id !== 0 && (type === FRAME.HEADERS || type === FRAME.DATA)) into.add(id);
    at += 9 + length;
  }
}

function streamDone(raw: RawH2, id: number): boolean {
  return raw.frames.some(
    (f) =>
      f.id === id &&
      (f.type === FRAME.RST_STREAM ||
        ((f.type === FRAME.DATA || f.type === FRAME.HEADERS) && (f.flags & 1) !== 0)),
  );
}

async function until(raw: RawH2, done: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!done() && !raw.closed && Date.now() < end) await sleep(5);
}

/** Plays `c` against `front` from `localAddress`; what reached the upstream is added by the caller, once all ran. */
export async function play(
  front: Front,
  cert: Cert,
  c: H2Case,
  localAddress: string,
): Promise<Omit<Observation, 'upstream'>> {
  const tcp = netConnect({ host: '127.0.0.1', port: front.port, localAddress });
  tcp.on('error', () => {});
  const socket = tlsConnect({
    socket: tcp,
    servername: HOST,
    ca: cert.ca.certPem,
    ALPNProtocols: ['h2'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    if (socket.alpnProtocol !== 'h2') throw new Error(`${front.name}: ALPN chose ${socket.alpnProtocol}`);
    const raw = new RawH2(socket);
    const cap = c.capMs ?? 2000;
    raw.send(PREFACE, settingsFrame(c.settings ?? []));
    // A real client acknowledges the server's SETTINGS; the case starts once it has.
    await until(raw, () => raw.frames.some((f) => f.type === FRAME.SETTINGS && (f.flags & 1) === 0), cap);
    raw.send(frame(FRAME.SETTINGS, 0x1, 0));
    const ids = new Set<number>();
    const writes: Buffer[] = [];
    const steps = [...c.steps];
    const probe = c.probe ?? true;
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      if (Buffer.isBuffer(step)) {
        streamIds(step, ids);
        writes.push(step);
        // Frames are written together up to the next wait (and the last ones with the probe).
        if (i + 1 < steps.length && !Buffer.isBuffer(steps[i + 1])) {
          if (!raw.closed) raw.send(...writes.splice(0));
        }
      } else if ('wait' in step) {
        await until(raw, () => streamDone(raw, step.wait), cap);
      } else {
        await sleep(step.sleep);
      }
    }
    if (probe) {
      ids.add(PROBE_ID);
      writes.push(frame(FRAME.HEADERS, 0x5, PROBE_ID, get(HOST, '/echo?probe')));
    }
    writes.push(frame(FRAME.PING, 0, 0, PING_PAYLOAD));
    if (!raw.closed) raw.send(...writes);
    const pinged = () => raw.frames.some((f) => f.type === FRAME.PING && (f.flags & 1) !== 0);
    const goaway = () => raw.frames.some((f) => f.type === FRAME.GOAWAY);
    // Done: the connection is gone or going, or every stream the case opened has ended and the PING came back.
    await until(raw, () => goaway() || (pinged() && [...ids].every((id) => streamDone(raw, id))), cap);
    // Frames that follow an end (a RST_STREAM NO_ERROR after a response, a GOAWAY) and the close after a GOAWAY.
    await sleep(60);
    if (goaway()) await until(raw, () => false, 1000);
    const streams = new Map<number, StreamSeen>();
    const seen = (id: number) => {
      let s = streams.get(id);
      if (s === undefined) {
        s = { blocks: [], body: Buffer.alloc(0), ended: false, rst: [] };
        streams.set(id, s);
      }
      return s;
    };
    for (const id of ids) seen(id);
    collectFrames(raw, seen);
    return {
      streams,
      goaways: raw.frames
        .filter((f) => f.type === FRAME.GOAWAY)
        .map((f) => [f.payload.readUInt32BE(0) & 0x7fffffff, f.payload.readUInt32BE(4)]),
      closed: raw.closed,
      pinged: pinged(),
    };
  } finally {
    socket.destroy();
    tcp.destroy();
  }
}

/** Header blocks (RawH2 keeps only the last per stream: decoded here again, in order) and bodies. */
function collectFrames(raw: RawH2, seen: (id: number) => StreamSeen): void {
  const decoder = new HpackDecoder();
  let block: Buffer[] = [];
  for (const f of raw.frames as Frame[]) {
    if (f.id === 0) continue;
    const s = seen(f.id);
    if (f.type === FRAME.HEADERS || f.type === FRAME.CONTINUATION) {
      let payload = f.payload;
      if (f.type === FRAME.HEADERS) {
        let from = 0;
        let to = payload.length;
        if ((f.flags & 0x8) !== 0) {
          to -= payload[0]!;
          from = 1;
        }
        if ((f.flags & 0x20) !== 0) from += 5;
        payload = payload.subarray(from, to);
      }
      block.push(payload);
      if ((f.flags & 0x4) !== 0) {
        const whole = Buffer.concat(block);
        block = [];
        const list: string[] = [];
        decoder.decode(whole, 0, whole.length, list, 1 << 30);
        s.blocks.push(list);
      }
      if (f.type === FRAME.HEADERS && (f.flags & 1) !== 0) s.ended = true;
    } else if (f.type === FRAME.DATA) {
      let payload = f.payload;
      if ((f.flags & 0x8) !== 0) payload = payload.subarray(1, payload.length - payload[0]!);
      s.body = Buffer.concat([s.body, payload]);
      if ((f.flags & 1) !== 0) s.ended = true;
    } else if (f.type === FRAME.RST_STREAM) {
      s.rst.push(f.payload.readUInt32BE(0));
    }
  }
}

// --- views ----------------------------------------------------------------------------------------------------

/** Bodies as text when short and printable, else as their length and a hash. */
function short(body: Buffer | string): string {
  const text = typeof body === 'string' ? body : body.toString('latin1');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: printable text only
  if (text.length <= 200 && !/[\x00-\x08\x0b-\x1f\x7f-\xff]/.test(text)) return text;
  return `<${text.length} bytes sha256 ${createHash('sha256').update(text, 'latin1').digest('hex').slice(0, 16)}>`;
}

const pairs = (flat: string[]): [string, string][] => {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
};
const sortPairs = (list: [string, string][]) =>
  [...list].sort((a, b) => (a[0] === b[0] ? 0 : a[0] < b[0] ? -1 : 1)).map(([n, v]) => `${n}: ${v}`);

/** Each response of nodix has its own x-request-id, shown in its error pages too: replaced by `<id>`. */
function withoutId(head: [string, string][], body: Buffer): { head: [string, string][]; body: string } {
  const id = head.find(([n]) => n === 'x-request-id')?.[1];
  let text = body.toString('latin1');
  if (id !== undefined && id !== '') text = text.split(id).join('<id>');
  return {
    head: head.map(([n, v]) => (n === 'x-request-id' ? [n, '<id>'] : [n, v]) as [string, string]),
    body: text,
  };
}

/** Response fields compared for fast path vs node path: all but Date. */
const EXACT_DROP = new Set(['date']);
/** Response fields compared with nginx, when the response came from the upstream. */
const NGINX_KEEP = new Set(['content-type', 'content-length', 'set-cookie', 'etag', 'x-up']);

function streamView(s: StreamSeen, exact: boolean): unknown {
  const rst = s.rst.map(codeName);
  if (s.blocks.length === 0 && s.body.length === 0) {
    if (rst.length > 0) return `rst ${rst.join(', ')}`;
    return s.ended ? 'ended without a response' : 'none';
  }
  const head = pairs(s.blocks[0] ?? []);
  const status = head.find(([n]) => n === ':status')?.[1] ?? '?';
  const clean = withoutId(head, s.body);
  const fromUpstream = head.some(([n]) => n === 'x-up');
  const out: Record<string, unknown> = { status };
  if (exact) {
    out.headers = sortPairs(clean.head.filter(([n]) => !EXACT_DROP.has(n) && n !== ':status'));
    out.body = short(clean.body);
  } else if (fromUpstream) {
    out.headers = sortPairs(head.filter(([n]) => NGINX_KEEP.has(n)));
    out.body = short(s.body);
  } else {
    out.body = '(a page of the proxy)';
  }
  if (s.blocks.length > 1) out.trailers = s.blocks.slice(1).map((b) => sortPairs(pairs(b)));
  if (!s.ended) out.ended = false;
  if (rst.length > 0) out.rst = rst.join(', ');
  return out;
}

/**
 * What became of the connection: the code of the server's GOAWAY, else whether it closed. The last stream id of
 * a GOAWAY is left out (nghttp2 counts a stream whose header block was being read, the fast path one it read
 * whole: both are "might have been processed" as RFC 9113 §6.8 means it), and so is whether a GOAWAY for an error
 * was followed by the close in time (node:http2 often keeps the socket open; the suite checks the fast path's
 * close on its own).
 */
export function connectionView(o: Observation): string {
  const goaway = o.goaways[0];
  if (goaway !== undefined) return `GOAWAY ${codeName(goaway[1])}`;
  return o.closed ? 'closed without GOAWAY' : 'open';
}

/** A stream's outcome in a word: its status, `rst CODE`, `none`. */
export function outcome(o: Observation, id: number): string {
  const s = o.streams.get(id);
  if (s === undefined) return 'none';
  const status = pairs(s.blocks[0] ?? []).find(([n]) => n === ':status')?.[1];
  const parts: string[] = [];
  if (status !== undefined) parts.push(status);
  if (s.rst.length > 0) parts.push(`rst ${s.rst.map(codeName).join(', ')}`);
  return parts.length === 0 ? 'none' : parts.join(' ');
}

/** Upstream header lines left out of the nginx comparison: framing, hop-by-hop, nodix's request id. */
const NGINX_UP_DROP = new Set(['connection', 'content-length', 'transfer-encoding', 'x-request-id']);

/**
 * The requests that reached the upstream whole. A request the proxy cut off (a malformed body found after its
 * head went upstream) is left out: whether its head got there before the cut depends on how fast the upstream
 * connection was ready, not on how the request was read; that no truncated body is ever taken for a whole one
 * is what counts, and such a request would show here.
 */
function upstreamView(o: Observation, exact: boolean): unknown {
  // Each (case, front end) has a client address of its own: X-Forwarded-For names it.
  const clean = (n: string, v: string) =>
    n.toLowerCase() === 'x-forwarded-for' ? v.replace(/127\.4[1-3]\.\d+\.\d+/g, '<client>') : v;
  const whole = o.upstream
    .filter((r) => r.complete)
    .map((r) => ({ ...r, headers: r.headers.map(([n, v]) => [n, clean(n, v)] as [string, string]) }));
  const list = whole.map((r) =>
    exact
      ? {
          line: `${r.method} ${r.url}`,
          headers: r.headers.map(([n, v]) => `${n}: ${n.toLowerCase() === 'x-request-id' ? '<id>' : v}`),
          framing: r.framing,
          body: short(r.body),
        }
      : {
          line: `${r.method} ${r.url}`,
          headers: sortPairs(
            r.headers
              .map(([n, v]) => [n.toLowerCase(), v] as [string, string])
              .filter(([n]) => !NGINX_UP_DROP.has(n)),
          ),
          body: short(r.body),
        },
  );
  // Streams of one connection go upstream on connections of their own: their order there is not the client's.
  return list.map((r) => JSON.stringify(r)).sort();
}

export function exactView(o: Observation) {
  return {
    streams: Object.fromEntries([...o.streams].map(([id, s]) => [id, streamView(s, true)])),
    connection: connectionView(o),
    pinged: o.pinged,
    upstream: upstreamView(o, true),
  };
}

export function nginxView(o: Observation) {
  return {
    streams: Object.fromEntries([...o.streams].map(([id, s]) => [id, streamView(s, false)])),
    connection: connectionView(o),
    upstream: upstreamView(o, false),
  };
}

/** The loopback address of case `i` on front `f` (127.41.1.1, ...). */
export function clientAddress(f: number, i: number): string {
  return `127.${41 + f}.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}

/** Runs `fn` over `items` with at most `limit` at once. */
export async function inBatches<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
) {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
