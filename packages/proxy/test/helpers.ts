/**
 * Shared by the proxy's tests: real servers on port 0, a proxy on port 0, plain and raw requests. Everything
 * started here is closed in the calling test's teardown, also when the test fails.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import {
  type Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type RequestListener,
  type Server,
} from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { createProxy, type NodixProxy, type ProxyOptions, type RouteTableConfig } from '../src/index.js';

export interface Upstream {
  server: Server;
  port: number;
  origin: string;
  /** Requests received so far. */
  requests: IncomingMessage[];
  /** Server-side sockets currently open. */
  sockets: Set<Socket>;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1:0; default handler answers `name` and echoes what it saw as JSON. */
export async function startUpstream(
  t: Test,
  handler?: RequestListener,
  host = '127.0.0.1',
): Promise<Upstream> {
  const requests: IncomingMessage[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    requests.push(req);
    if (handler !== undefined) return handler(req, res);
    const body = JSON.stringify({
      url: req.url,
      method: req.method,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  let closed = false;
  const upstream: Upstream = {
    server,
    port,
    origin: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    requests,
    sockets,
    close: async () => {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  t.teardown(upstream.close);
  return upstream;
}

export interface StartedProxy {
  proxy: NodixProxy;
  port: number;
  adminPort: number | null;
  logs: string[];
}

/** A proxy on 127.0.0.1:0 (admin on 127.0.0.1:0 unless `adminListen` is given), logging into `logs`. */
export async function startProxy(
  t: Test,
  routeTable: RouteTableConfig | null,
  options: ProxyOptions = {},
): Promise<StartedProxy> {
  const logs: string[] = [];
  const proxy = createProxy({
    listen: '127.0.0.1:0',
    adminListen: '127.0.0.1:0',
    log: (line) => logs.push(line),
    metrics: { defaultMetrics: false },
    ...(routeTable === null ? {} : { routeTable }),
    ...options,
  });
  t.teardown(() => proxy.close({ timeoutMs: 0 }));
  const addresses = await proxy.listen();
  return { proxy, port: addresses.listen.port, adminPort: addresses.admin?.port ?? null, logs };
}

export function table(
  hosts: RouteTableConfig['hosts'],
  extra: Partial<RouteTableConfig> = {},
): RouteTableConfig {
  return { version: 1, hosts, ...extra };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

export interface RequestOptions {
  method?: string;
  path?: string;
  host?: string | null;
  headers?: Record<string, string | string[]> | string[];
  body?: string | Buffer;
  timeoutMs?: number;
  /** A keep-alive Agent to reuse connections; default none (a fresh connection per request). */
  agent?: Agent;
}

/** One request on a fresh connection (no agent), body read to the end. */
export function request(port: number, options: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers = Array.isArray(options.headers) ? [...options.headers] : { ...(options.headers ?? {}) };
    if (options.host !== null && !Array.isArray(headers)) headers.host = options.host ?? 'webapp1.local';
    if (options.host !== null && Array.isArray(headers) && options.host !== undefined)
      headers.push('host', options.host);
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers,
        agent: options.agent ?? false,
        setHost: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Writes `text` on a raw connection and collects everything until the server closes it (or `waitMs`). */
export function rawRequest(port: number, text: string | Buffer, waitMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      out += chunk;
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(out);
    }, waitMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      if (out !== '') resolve(out);
      else reject(err);
    });
    socket.write(text);
  });
}

/**
 * A port on 127.0.0.1 where a TCP connect never completes: a listening socket that never accepts, with its accept
 * queue already full. Linux then drops every further SYN (the client retransmits it for a minute or more), which
 * is what an upstream host that is down or behind a dropping firewall looks like to the proxy — a connect timeout,
 * not a refusal. Node accepts on every listening socket it owns, so the listener is a small python3 child
 * (`listen(0)`, never `accept()`); the queue is filled from here until a connect hangs. Null when there is no
 * python3. The child, which also exits when its stdin closes, and the filler sockets go at teardown.
 */
export async function startBlackHole(t: Test): Promise<{ port: number; origin: string }> {
  const script = [
    'import socket, sys',
    's = socket.socket(socket.AF_INET, socket.SOCK_STREAM)',
    "s.bind(('127.0.0.1', 0))",
    's.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'sys.stdin.read()',
  ].join('\n');
  const child = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const spawned = await new Promise<boolean>((resolve) => {
    child.once('spawn', () => resolve(true));
    child.once('error', () => resolve(false));
  });
  // Failing, not skipping: a skipped connect-timeout test would prove nothing.
  if (!spawned)
    throw new Error('this test needs python3 for a listener that never accepts (.ci/run installs it)');
  const exited = once(child, 'exit');
  t.teardown(async () => {
    child.stdin.end();
    child.kill();
    await exited;
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  for await (const chunk of child.stdout) {
    out += chunk;
    if (out.includes('\n')) break;
  }
  const port = Number(out.trim());
  if (!Number.isInteger(port) || port <= 0)
    throw new Error(`python3 listener printed ${JSON.stringify(out)}`);

  // Connections that complete are queued by the kernel (nobody accepts them); the first one that does not
  // complete within a generous delay proves the queue is full. listen(0) queues one, so this takes two tries.
  const fillers: Socket[] = [];
  t.teardown(() => {
    for (const socket of fillers) socket.destroy();
  });
  for (let attempt = 0; attempt < 16; attempt++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    fillers.push(socket);
    const connected = await Promise.race([
      once(socket, 'connect').then(() => true),
      sleep(500).then(() => false),
    ]);
    if (!connected) {
      socket.destroy();
      return { port, origin: `http://127.0.0.1:${port}` };
    }
  }
  throw new Error('the accept queue of the python3 listener never filled up');
}

/** One raw client connection; `send` writes and waits until `count` whole responses arrived (or the socket closed). */
export async function rawClient(t: Test, port: number) {
  const socket = connect(port, '127.0.0.1');
  socket.setEncoding('latin1');
  socket.on('error', () => {});
  t.teardown(() => socket.destroy());
  await once(socket, 'connect');
  let buffered = '';
  let closed = false;
  let wake: (() => void) | null = null;
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    wake?.();
  });
  socket.on('close', () => {
    closed = true;
    wake?.();
  });
  /** Splits complete responses off `buffered` (Content-Length or chunked bodies). */
  const take = (): string | null => {
    const end = buffered.indexOf('\r\n\r\n');
    if (end === -1) return null;
    const head = buffered.slice(0, end + 4);
    const length = /\r\ncontent-length: (\d+)/i.exec(head);
    if (/^HTTP\/1\.1 (204|304)/.test(head) || head.startsWith('HTTP/1.1 200 OK\r\nX-Head')) {
      buffered = buffered.slice(end + 4);
      return head;
    }
    if (length !== null) {
      const total = end + 4 + Number(length[1]);
      if (buffered.length < total) return null;
      const whole = buffered.slice(0, total);
      buffered = buffered.slice(total);
      return whole;
    }
    if (/\r\ntransfer-encoding: chunked/i.test(head)) {
      const last = buffered.indexOf('\r\n0\r\n\r\n', end);
      if (last === -1) return null;
      const whole = buffered.slice(0, last + 7);
      buffered = buffered.slice(last + 7);
      return whole;
    }
    return null;
  };
  return {
    socket,
    get closed() {
      return closed;
    },
    async send(text: string | Buffer, count = 1, waitMs = 5000): Promise<string[]> {
      if (text.length > 0) socket.write(text);
      const out: string[] = [];
      const deadline = Date.now() + waitMs;
      while (out.length < count && Date.now() < deadline) {
        const next = take();
        if (next !== null) {
          out.push(next);
          continue;
        }
        if (closed) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 100);
        });
        wake = null;
      }
      return out;
    },
  };
}

/** A TCP upstream that speaks no HTTP by itself: `onData` sees each connection's bytes so far and answers. */
export interface RawUpstream {
  origin: string;
  /** Everything received, per connection, in connection order. */
  received: string[];
}

export async function startRawUpstream(
  t: Test,
  onData: (socket: Socket, received: string) => void,
): Promise<RawUpstream> {
  const sockets = new Set<Socket>();
  const received: string[] = [];
  const server = createNetServer((socket) => {
    sockets.add(socket);
    const index = received.push('') - 1;
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    socket.on('data', (data: Buffer) => {
      received[index] += data.toString('latin1');
      onData(socket, received[index]!);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

/** An upstream that reads the whole body and answers its length and SHA-256. */
export function digestUpstream(t: Test, delayMs = 0) {
  return startUpstream(t, (req, res) => {
    const hash = createHash('sha256');
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => setTimeout(() => res.end(`${length} ${hash.digest('hex')}`), delayMs));
  });
}

export const digest = (body: Buffer) => `${body.length} ${createHash('sha256').update(body).digest('hex')}`;
/** A temporary directory removed at teardown. */
export function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'nodix-proxy-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns true (or throws after `timeoutMs`). */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The admin listener's /metrics text. */
export async function scrape(adminPort: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
  return res.text();
}

/** fetch() options of a POST to the admin listener as a script sends it (the header no browser sends cross-site). */
export const ADMIN_POST = { method: 'POST', headers: { 'x-nodix-admin': '1' } } as const;

/** The keys of GET /healthz, the same with one process and with several. */
export const HEALTH_KEYS = ['hosts', 'inFlight', 'openConnections', 'status', 'workers'];
