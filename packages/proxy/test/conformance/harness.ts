/**
 * The machinery of the differential conformance suite (and the fuzzer): a raw TCP upstream that records the
 * bytes each proxy sends it and answers scripted responses, raw clients that send exact bytes (in exact splits)
 * and read the responses back, the three front ends (nodix fast path, nodix node:http path, nginx) and the
 * normalised views the tests compare.
 *
 * Who sent what: every case's client connects from its own loopback address (127.20.x.y; all of 127/8 is local
 * on Linux), and every front end is configured to put the peer address in X-Forwarded-For, so the upstream can
 * tell which case a request belongs to while cases run concurrently over shared keep-alive connections. A
 * request that arrives without X-Forwarded-For (smuggled inside another request's body) is booked to the case
 * whose request came before it on the same upstream connection, where it shows up as a difference.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProxy, type NodixProxy, type ProxyOptions } from '../../src/index.js';

export const HOSTS = ['a.test', 'b.test'];

/** Where started things register their clean-up: a tap Test, or the fuzzer's own list outside tap. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}
export const NGINX = '/usr/sbin/nginx';

// --- the raw upstream ---------------------------------------------------------------------------------------

/** One request as the upstream read it off the wire. */
export interface UpRequest {
  method: string;
  target: string;
  version: string;
  /** Header lines in order, names as sent. */
  headers: [string, string][];
  framing: 'length' | 'chunked' | 'none';
  body: string;
  trailers: [string, string][];
  /** The upstream connection it came on (numbered per upstream). */
  conn: number;
}

/** What one client address caused at the upstream. */
export interface UpRecord {
  requests: UpRequest[];
  /** Bytes the upstream could not read as a request (the connection was closed after them). */
  garbage: string[];
  /** Most requests of this client being answered at the same time. */
  maxInFlight: number;
}

export interface Script {
  /** Raw response bytes (latin1 string). */
  raw: string;
  /** Close the upstream connection after writing it. */
  close?: boolean;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Write the response in these pieces (byte offsets), with a short pause between them. */
  splits?: number[];
}

export type Responder = (req: UpRequest, client: string) => Script;

/** The default answer: a framed 200 whose body names the request, so each client can tell whose answer it got. */
export function echoResponse(req: UpRequest): Script {
  const body = `UP:${req.method} ${req.target}${req.body === '' ? '' : ` ${req.body.length}`}`;
  return {
    raw: `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nX-Up: 1\r\n\r\n${req.method === 'HEAD' ? '' : body}`,
  };
}

export class RawUpstream {
  readonly server: Server;
  port = 0;
  readonly records = new Map<string, UpRecord>();
  readonly sockets = new Set<Socket>();
  respond: Responder = echoResponse;
  #inFlight = new Map<string, number>();
  #connections = 0;

  constructor() {
    this.server = createServer((socket) => this.#serve(socket));
  }

  async listen(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
  }

  record(client: string): UpRecord {
    let r = this.records.get(client);
    if (r === undefined) {
      r = { requests: [], garbage: [], maxInFlight: 0 };
      this.records.set(client, r);
    }
    return r;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  #serve(socket: Socket): void {
    const conn = ++this.#connections;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.once('close', () => this.sockets.delete(socket));
    let buffered = '';
    let lastClient = '?';
    let busy = false;
    /** The script closed this connection: what the proxy still sends on it is not read (a closed peer). */
    let ended = false;
    const pump = async () => {
      if (busy || ended) return;
      busy = true;
      try {
        while (!socket.destroyed) {
          const parsed = parseRequest(buffered);
          if (parsed === null) break;
          if ('error' in parsed) {
            // Booked to the client it names, when it names one (a header value the front end should not pass).
            const named = /\r\nx-forwarded-for:[ \t]*([^\r\n]*)/i.exec(
              buffered.slice(0, buffered.indexOf('\r\n\r\n')),
            );
            const client = named === null ? lastClient : named[1]!.split(',').at(-1)!.trim();
            this.record(client).garbage.push(buffered.slice(0, 200));
            buffered = '';
            socket.destroy();
            break;
          }
          buffered = buffered.slice(parsed.used);
          const req: UpRequest = { ...parsed.request, conn };
          const xff = req.headers.find(([n]) => n.toLowerCase() === 'x-forwarded-for')?.[1];
          const client = xff === undefined ? lastClient : xff.split(',').at(-1)!.trim();
          lastClient = client;
          const rec = this.record(client);
          rec.requests.push(req);
          const now = (this.#inFlight.get(client) ?? 0) + 1;
          this.#inFlight.set(client, now);
          rec.maxInFlight = Math.max(rec.maxInFlight, now);
          const script = this.respond(req, client);
          if (script.delayMs) await sleep(script.delayMs);
          await writeSplit(socket, script.raw, script.splits);
          this.#inFlight.set(client, (this.#inFlight.get(client) ?? 1) - 1);
          if (script.close) {
            ended = true;
            socket.end();
            break;
          }
        }
      } finally {
        busy = false;
      }
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      if (ended) return;
      buffered += chunk;
      void pump().then(() => {
        // Data that came in while the last response was being written.
        if (buffered !== '' && !socket.destroyed && !busy) void pump();
      });
    });
  }
}

type Parsed = { request: Omit<UpRequest, 'conn'>; used: number } | { error: string } | null;

/** Reads one request off `buf` strictly (proxies must send clean HTTP/1.1); null while incomplete. */
export function parseRequest(buf: string): Parsed {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return buf.length > 65536 ? { error: 'head too long' } : null;
  const lines = buf.slice(0, end).split('\r\n');
  const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) (HTTP\/\d\.\d)$/.exec(lines[0]!);
  if (m === null) return { error: 'request line' };
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const h = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/.exec(line);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: a proxy must never forward control characters
    if (h === null || /[\x00-\x08\x0a-\x1f\x7f]/.test(h[2]!)) return { error: `header line ${line}` };
    headers.push([h[1]!, h[2]!]);
  }
  const values = (name: string) => headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
  const te = values('transfer-encoding');
  const cl = values('content-length');
  const pos = end + 4;
  const line = { method: m[1]!, target: m[2]!, version: m[3]!, headers };
  if (te.length > 0) {
    if (cl.length > 0 || te.join(',').trim().toLowerCase() !== 'chunked') return { error: 'framing' };
    const chunked = readChunked(buf, pos);
    if (chunked === null) return null;
    if ('error' in chunked) return chunked;
    const { body, trailers, used } = chunked;
    return { request: { ...line, framing: 'chunked', body, trailers }, used };
  }
  if (cl.length > 1 || (cl.length === 1 && !/^\d+$/.test(cl[0]!))) return { error: 'content-length' };
  const length = cl.length === 1 ? Number(cl[0]) : 0;
  if (buf.length < pos + length) return null;
  const framing = cl.length === 1 ? 'length' : 'none';
  return {
    request: { ...line, framing, body: buf.slice(pos, pos + length), trailers: [] },
    used: pos + length,
  };
}

/** A chunked body from `pos`: its bytes, trailers and where it ends; null while incomplete. */
export function readChunked(
  buf: string,
  pos: number,
): { body: string; trailers: [string, string][]; used: number } | { error: string } | null {
  let body = '';
  for (;;) {
    const eol = buf.indexOf('\r\n', pos);
    if (eol === -1) return buf.length - pos > 1024 ? { error: 'chunk size line' } : null;
    const sizeText = buf.slice(pos, eol).split(';')[0]!.trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) return { error: `chunk size ${sizeText}` };
    const size = Number.parseInt(sizeText, 16);
    pos = eol + 2;
    if (size === 0) {
      const trailers: [string, string][] = [];
      for (;;) {
        const e = buf.indexOf('\r\n', pos);
        if (e === -1) return null;
        const line = buf.slice(pos, e);
        pos = e + 2;
        if (line === '') return { body, trailers, used: pos };
        const colon = line.indexOf(':');
        if (colon <= 0) return { error: 'trailer' };
        trailers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
      }
    }
    if (buf.length < pos + size + 2) return null;
    if (buf.slice(pos + size, pos + size + 2) !== '\r\n') return { error: 'chunk end' };
    body += buf.slice(pos, pos + size);
    pos += size + 2;
  }
}

async function writeSplit(socket: Socket, raw: string, splits: number[] = []): Promise<void> {
  let from = 0;
  for (const at of [...splits, raw.length]) {
    if (socket.destroyed) return;
    if (at > from) socket.write(raw.slice(from, at), 'latin1');
    from = Math.max(from, at);
    if (at < raw.length) await sleep(15);
  }
}

// --- the raw client -----------------------------------------------------------------------------------------

export interface ClientResponse {
  status: number;
  version: string;
  framing: 'length' | 'chunked' | 'close' | 'none';
  headers: [string, string][];
  body: string;
  trailers: [string, string][];
}

export interface ClientOutcome {
  responses: ClientResponse[];
  /** complete: every expected response arrived; closed: the server closed first; timeout: it went silent. */
  end: 'complete' | 'closed' | 'timeout';
  /** Bytes after the last response that are not a response. */
  garbage: string;
  /** Bytes the client had written when it stopped (a stall's diagnosis: did the request get out at all?). */
  sent: number;
  /** Milliseconds from connect to the end. */
  ms: number;
}

export interface ClientPlan {
  /** The request bytes, in the pieces they are written (latin1 strings). */
  chunks: string[];
  /** Methods of the requests sent, in order: how many final responses to wait for, and which have no body. */
  methods: string[];
  /** Pause between pieces, ms. */
  gapMs?: number;
  /** Give up waiting after this, ms. */
  capMs?: number;
  localAddress?: string;
  /**
   * Bytes the server has read from the connection with this local address and port, when the server runs in
   * this process: each piece is then written only after the one before it was read, so pieces are never read
   * together, however busy the event loop (a pause alone cannot promise that).
   */
  readBy?: (localAddress: string, localPort: number) => number;
}

/** Sends `plan.chunks` on one connection and reads responses until all arrived, the server closed, or the cap. */
export function runClient(port: number, plan: ClientPlan): Promise<ClientOutcome> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress: plan.localAddress });
    socket.setNoDelay(true);
    socket.setEncoding('latin1');
    let buffered = '';
    let done = false;
    let sent = 0;
    const began = Date.now();
    const finish = (end: ClientOutcome['end']) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const { responses, rest } = parseResponses(buffered, plan.methods, end !== 'complete');
      resolve({ responses, end, garbage: rest.slice(0, 300), sent, ms: Date.now() - began });
    };
    const timer = setTimeout(() => finish('timeout'), plan.capMs ?? 2500);
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const { responses } = parseResponses(buffered, plan.methods, false);
      if (responses.filter((r) => r.status >= 200).length >= plan.methods.length) finish('complete');
    });
    socket.on('error', () => finish('closed'));
    socket.on('close', () => finish('closed'));
    socket.on('connect', async () => {
      for (let i = 0; i < plan.chunks.length; i++) {
        if (done || socket.destroyed) return;
        socket.write(plan.chunks[i]!, 'latin1');
        sent += plan.chunks[i]!.length;
        if (i === plan.chunks.length - 1) break;
        const readBy = plan.readBy;
        if (readBy !== undefined) {
          const address = socket.localAddress ?? '';
          const port = socket.localPort ?? 0;
          for (let wait = 0; wait < 500 && readBy(address, port) < sent && !done; wait++) await sleep(2);
        }
        await sleep(plan.gapMs ?? 20);
      }
    });
  });
}

/** Responses in `buf`; `closed`: the connection ended, so a close-delimited body is complete. */
export function parseResponses(
  buf: string,
  methods: string[],
  closed: boolean,
): { responses: ClientResponse[]; rest: string } {
  const responses: ClientResponse[] = [];
  let pos = 0;
  let final = 0;
  while (pos < buf.length) {
    const end = buf.indexOf('\r\n\r\n', pos);
    if (end === -1) break;
    const lines = buf.slice(pos, end).split('\r\n');
    const m = /^(HTTP\/\d\.\d) (\d{3})(?: .*)?$/.exec(lines[0]!);
    if (m === null) break;
    const headers: [string, string][] = [];
    let bad = false;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) bad = true;
      else headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
    }
    if (bad) break;
    const status = Number(m[2]);
    const base = { status, version: m[1]!, headers, trailers: [] as [string, string][] };
    const get = (name: string) => headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
    let bodyStart = end + 4;
    if (status < 200) {
      responses.push({ ...base, framing: 'none', body: '' });
      pos = bodyStart;
      continue;
    }
    const method = methods[final] ?? 'GET';
    if (method === 'HEAD' || status === 204 || status === 304) {
      responses.push({ ...base, framing: 'none', body: '' });
      pos = bodyStart;
      final++;
      continue;
    }
    const te = get('transfer-encoding');
    const cl = get('content-length');
    if (te.length > 0 && /chunked\s*$/i.test(te.join(','))) {
      const chunked = readChunked(buf, bodyStart);
      if (chunked === null || 'error' in chunked) break;
      responses.push({ ...base, framing: 'chunked', body: chunked.body, trailers: chunked.trailers });
      pos = chunked.used;
    } else if (cl.length > 0 && te.length === 0) {
      const length = Number(cl[0]);
      if (!Number.isInteger(length) || buf.length < bodyStart + length) break;
      responses.push({ ...base, framing: 'length', body: buf.slice(bodyStart, bodyStart + length) });
      pos = bodyStart + length;
    } else {
      if (!closed) break;
      responses.push({ ...base, framing: 'close', body: buf.slice(bodyStart) });
      bodyStart = buf.length;
      pos = buf.length;
    }
    final++;
  }
  return { responses, rest: buf.slice(pos) };
}

/** The loopback address of client `i` (127.20.1.1, 127.20.1.2, ...). */
export function clientAddress(i: number, net = 20): string {
  return `127.${net}.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}

// --- front ends ---------------------------------------------------------------------------------------------

export interface FrontEnd {
  name: 'fast' | 'node' | 'nginx';
  port: number;
  upstream: RawUpstream;
  /** For a front end in this process: bytes read so far from the client connection from this address and port. */
  readBy?: (clientAddress: string, clientPort: number) => number;
}

export async function startUpstream(t: Teardown): Promise<RawUpstream> {
  const up = new RawUpstream();
  await up.listen();
  t.teardown(() => up.close());
  return up;
}

/** A nodix proxy (fast path on or off) in front of `upstream`, for every host of HOSTS. */
export async function startNodix(
  t: Teardown,
  upstream: RawUpstream,
  fastPath: boolean,
  options: ProxyOptions = {},
): Promise<FrontEnd> {
  const hosts = Object.fromEntries(
    HOSTS.map((h) => [h, { upstreams: [`http://127.0.0.1:${upstream.port}`] }]),
  );
  const proxy: NodixProxy = createProxy({
    listen: '127.0.0.1:0',
    adminListen: null,
    log: () => {},
    metrics: { defaultMetrics: false },
    routeTable: { version: 1, hosts },
    fastPath,
    ...options,
  });
  t.teardown(() => proxy.close({ timeoutMs: 0 }));
  // Keyed by address and port: clients on different loopback addresses (clientAddress) can get the same port,
  // and a port alone mixed up two connections (the fuzzer's stalls under load: a client waited on another's count).
  const sockets = new Map<string, Socket>();
  proxy.server.on('connection', (socket: Socket) => {
    const key = `${socket.remoteAddress} ${socket.remotePort}`;
    sockets.set(key, socket);
    socket.once('close', () => {
      if (sockets.get(key) === socket) sockets.delete(key);
    });
  });
  const addresses = await proxy.listen();
  return {
    name: fastPath ? 'fast' : 'node',
    port: addresses.listen.port,
    upstream,
    readBy: (clientAddress, clientPort) => sockets.get(`${clientAddress} ${clientPort}`)?.bytesRead ?? 0,
  };
}

/** A free port on 127.0.0.1 (nginx cannot be told to pick one and say which). */
async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * The start of a test nginx's configuration, up to inside `http {`: one process in the foreground, its pid, error
 * log (at `logLevel`) and temp paths in `dir`, no access log.
 */
export function nginxPreamble(dir: string, logLevel: string): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log ${logLevel};
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;`;
}

/**
 * The nginx configuration the suite compares against: HTTP/1.1 to a keep-alive upstream, the same X-Forwarded-*
 * headers nodix sets for an untrusted peer, the client's Host passed as sent, request bodies streamed (as nodix
 * does), and nginx's defaults for everything a client can send (underscores_in_headers off, ignore_invalid_headers
 * on).
 */
export function nginxConfig(dir: string, port: number, upstreamPort: number): string {
  return `${nginxPreamble(dir, 'error')}
  keepalive_timeout 5s;
  client_header_timeout 10s;
  client_body_timeout 10s;
  large_client_header_buffers 4 16k;
  proxy_http_version 1.1;
  proxy_request_buffering off;
  proxy_set_header Connection "";
  proxy_set_header Host $http_host;
  proxy_set_header X-Forwarded-For $remote_addr;
  proxy_set_header X-Forwarded-Proto $scheme;
  proxy_set_header X-Forwarded-Host $http_host;
  upstream up {
    server 127.0.0.1:${upstreamPort};
    keepalive 16;
  }
  server { listen 127.0.0.1:${port} default_server; return 404; }
  server {
    listen 127.0.0.1:${port};
    server_name ${HOSTS.join(' ')};
    location / { proxy_pass http://up; }
  }
}
`;
}

/** nginx in front of `upstream`, stopped by its PID at teardown. */
export async function startNginx(t: Teardown, upstream: RawUpstream): Promise<FrontEnd> {
  const dir = mkdtempSync(join(tmpdir(), 'nodix-conformance-nginx-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port, upstream.port));
    const child: ChildProcess = spawn(
      NGINX,
      ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')],
      {
        stdio: 'ignore',
      },
    );
    const exited = once(child, 'exit');
    t.teardown(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    });
    const up = await waitListening(port, child);
    if (up) return { name: 'nginx', port, upstream };
    const log = readFileSync(join(dir, 'error.log'), 'utf8');
    if (attempt >= 2 || !log.includes('Address already in use'))
      throw new Error(`nginx did not start: ${log.trim()}`);
  }
}

/** Polls until something accepts on 127.0.0.1:`port` (true), or `child` exited or 5 s passed (false). */
export async function waitListening(port: number, child: ChildProcess): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) return false;
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return true;
    await sleep(25);
  }
  return false;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `fn` over `items` with at most `limit` at once. */
export async function inBatches<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>) {
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
