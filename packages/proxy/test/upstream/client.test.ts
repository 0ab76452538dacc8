/**
 * upstream/client.ts against scripted upstreams: raw TCP servers on 127.0.0.1:0 that answer exactly the bytes a
 * test gives them, split where the test says, so framing, strictness and connection reuse are checked at the
 * byte level. Every server and client is closed in the test's teardown.
 */

import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t, { type Test } from 'tap';
import { StreamBody } from '../../src/inbound/request-body.js';
import { type ResponseHandler, UpstreamClient, type UpstreamSettings } from '../../src/upstream/client.js';

interface Scripted {
  origin: string;
  /** Connections accepted so far. */
  connections: number;
  /** Every request head (up to and with its CRLF CRLF) and body bytes received, per connection, in order. */
  received: string[];
}

/**
 * A raw upstream: for each request head it sees on a connection it calls `answer(requestIndex, socket, head)`,
 * which writes whatever bytes it likes (and may close).
 */
async function scripted(
  t: Test,
  answer: (index: number, socket: Socket, head: string) => void,
): Promise<Scripted> {
  const state: Scripted = { origin: '', connections: 0, received: [] };
  let requests = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    const conn = state.received.length;
    state.received.push('');
    socket.on('data', (data) => {
      state.received[conn] += data.toString('latin1');
      buffered += data.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
        const head = buffered.slice(0, end + 4);
        buffered = buffered.slice(end + 4);
        answer(requests++, socket, head);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return state;
}

const SETTINGS: UpstreamSettings = {
  connectTimeoutMs: 2000,
  headersTimeoutMs: 2000,
  bodyTimeoutMs: 2000,
  keepAliveTimeoutMs: 4000,
  connections: 0,
};

function client(t: Test, origin: string, settings: Partial<UpstreamSettings> = {}): UpstreamClient {
  const c = new UpstreamClient(origin, { ...SETTINGS, ...settings });
  t.teardown(() => c.destroy());
  return c;
}

interface Result {
  status: number;
  headers: string[];
  body: string;
  error: (Error & { code?: string }) | null;
  reused: boolean;
}

/** Sends one request and collects what the handler saw. */
function send(
  c: UpstreamClient,
  options: { method?: string; path?: string; headers?: string[]; body?: PassThrough | null } = {},
): Promise<Result> {
  return new Promise((resolve) => {
    const result: Result = { status: 0, headers: [], body: '', error: null, reused: false };
    const handler: ResponseHandler = {
      onHeaders(status, headers) {
        result.status = status;
        result.headers = headers;
        return true;
      },
      onData(chunk) {
        result.body += chunk.toString('latin1');
        return true;
      },
      onComplete() {
        result.reused = call.reused;
        resolve(result);
      },
      onError(err) {
        result.error = err;
        result.reused = call.reused;
        resolve(result);
      },
    };
    const call = c.dispatch(
      options.method ?? 'GET',
      options.path ?? '/',
      options.headers ?? ['host', 'a.local'],
      options.body ? new StreamBody(options.body) : null,
      handler,
    );
  });
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

t.test('writes one head with the headers as given; reuses the connection', async (t) => {
  const up = await scripted(t, (_i, socket) => socket.write(OK));
  const c = client(t, up.origin);
  const first = await send(c, { path: '/a?b=1', headers: ['Host', 'a.local', 'X-Custom', 'v 1'] });
  t.equal(first.status, 200);
  t.equal(first.body, 'ok');
  t.same(first.headers, ['Content-Length', '2']);
  t.notOk(first.reused);
  const second = await send(c);
  t.equal(second.body, 'ok');
  t.ok(second.reused, 'second request on the same connection');
  t.equal(up.connections, 1);
  t.match(up.received[0], /^GET \/a\?b=1 HTTP\/1\.1\r\nHost: a\.local\r\nX-Custom: v 1\r\n\r\n/);
});

t.test('framing: Content-Length and chunked split across reads at every byte; 1xx skipped', async (t) => {
  const responses = [
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-X: y\r\n\r\n',
    'HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, CHUNKED\r\n\r\nB\r\nhello world\r\n0\r\n\r\n',
  ];
  for (const [n, response] of responses.entries()) {
    for (let split = 1; split < response.length; split += 7) {
      const up = await scripted(t, (_i, socket) => {
        socket.write(response.slice(0, split));
        setImmediate(() => socket.write(response.slice(split)));
      });
      const c = client(t, up.origin);
      const r = await send(c);
      if (r.status !== 200 || r.body !== 'hello world' || r.error !== null) {
        t.fail(`response ${n} split at ${split}: ${r.status} ${JSON.stringify(r.body)} ${r.error?.message}`);
        return;
      }
      const again = await send(c);
      if (!again.reused || again.body !== 'hello world') {
        t.fail(`response ${n} split at ${split}: connection not reused after a complete response`);
        return;
      }
    }
  }
  t.pass('every split parsed, every connection reused');
});

t.test(
  'transfer-encoding and hop-by-hop headers are not handed on; Connection names are dropped',
  async (t) => {
    const up = await scripted(t, (_i, socket) =>
      socket.write(
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: x-secret\r\nKeep-Alive: timeout=30\r\nX-Secret: 1\r\nX-Kept: 2\r\n\r\n0\r\n\r\n',
      ),
    );
    const r = await send(client(t, up.origin));
    t.same(r.headers, ['X-Kept', '2']);
  },
);

t.test('bodies without length: HEAD, 204, 304 end at the head; no length reads to the close', async (t) => {
  const up = await scripted(t, (i, socket, head) => {
    if (head.startsWith('HEAD')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n');
    else if (head.includes('/204')) socket.write('HTTP/1.1 204 No Content\r\n\r\n');
    else if (head.includes('/304')) socket.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n');
    else socket.end(`HTTP/1.1 200 OK\r\n\r\nuntil close ${i}`);
  });
  const c = client(t, up.origin);
  t.same([(await send(c, { method: 'HEAD' })).body, (await send(c, { path: '/204' })).status], ['', 204]);
  const notModified = await send(c, { path: '/304' });
  t.equal(notModified.status, 304);
  t.equal(up.connections, 1, 'HEAD, 204 and 304 kept the connection');
  const close = await send(c, { path: '/close' });
  t.equal(close.body, 'until close 3');
  t.equal(close.error, null);
  await send(c, { path: '/204' });
  t.equal(up.connections, 2, 'a body read to the close needs a new connection');
});

t.test('strict: responses read two ways are refused with NODIX_ERR_BAD_RESPONSE', async (t) => {
  const bad: [string, string][] = [
    ['both lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'],
    ['signed length', 'HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc'],
    ['bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'],
    ['chunk without CRLF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n'],
    ['space before colon', 'HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 0\r\n\r\n'],
    ['control character', 'HTTP/1.1 200 OK\r\nX-A: a\u0001b\r\nContent-Length: 0\r\n\r\n'],
    ['not HTTP', 'SSH-2.0-OpenSSH_9.6\r\n\r\n'],
    ['short status', 'HTTP/1.1 20 OK\r\n\r\n'],
    ['101 unasked', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n'],
  ];
  for (const [what, response] of bad) {
    const up = await scripted(t, (_i, socket) => socket.write(response));
    const r = await send(client(t, up.origin));
    t.equal(r.error?.code, 'NODIX_ERR_BAD_RESPONSE', what);
  }
  const huge = await scripted(t, (_i, socket) =>
    socket.write(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`),
  );
  t.equal((await send(client(t, huge.origin))).error?.code, 'NODIX_ERR_BAD_RESPONSE', 'head over 64 KB');
});

t.test(
  'a connection is not reused after extra bytes, Connection: close, HTTP/1.0 or a Keep-Alive hint',
  async (t) => {
    const cases: [string, string][] = [
      ['bytes after the response', `${OK}garbage`],
      ['Connection: close', 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'],
      ['HTTP/1.0', 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok'],
      ['Keep-Alive: timeout=1', 'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok'],
    ];
    for (const [what, response] of cases) {
      const up = await scripted(t, (_i, socket) => socket.write(response));
      const c = client(t, up.origin);
      t.equal((await send(c)).body, 'ok', what);
      t.equal((await send(c)).body, 'ok', what);
      t.equal(up.connections, 2, `${what}: a new connection for the second request`);
    }
    const keepAlive10 = await scripted(t, (_i, socket) =>
      socket.write('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok'),
    );
    const c = client(t, keepAlive10.origin);
    await send(c);
    await send(c);
    t.equal(keepAlive10.connections, 1, 'HTTP/1.0 with Connection: keep-alive is reused');
  },
);

t.test('request bodies: Content-Length as is, otherwise chunked', async (t) => {
  const server = createHttpServer((req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => res.end(JSON.stringify({ headers: req.headers, body })));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const c = client(t, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);

  const sized = new PassThrough();
  const pending = send(c, { method: 'POST', headers: ['host', 'a', 'content-length', '5'], body: sized });
  sized.end('hello');
  const first = JSON.parse((await pending).body);
  t.equal(first.body, 'hello');
  t.equal(first.headers['content-length'], '5');
  t.equal(first.headers['transfer-encoding'], undefined);

  const streamed = new PassThrough();
  const pending2 = send(c, { method: 'POST', headers: ['host', 'a'], body: streamed });
  streamed.write('abc');
  setTimeout(() => streamed.end('x'.repeat(200_000)), 20);
  const second = JSON.parse((await pending2).body);
  t.equal(second.body, `abc${'x'.repeat(200_000)}`);
  t.equal(second.headers['transfer-encoding'], 'chunked');
});

t.test('a response that arrives before the request body ended closes the connection', async (t) => {
  const up = await scripted(t, (_i, socket) =>
    socket.write('HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n'),
  );
  const c = client(t, up.origin);
  const body = new PassThrough();
  const r = await send(c, { method: 'POST', headers: ['host', 'a', 'content-length', '100'], body });
  t.equal(r.status, 413);
  body.end('x'.repeat(100));
  await send(c);
  t.equal(up.connections, 2, 'not reused: the upstream may still be reading the body');
});

t.test('timeouts: headers and body silence; errors before answering', async (t) => {
  const silent = await scripted(t, () => {});
  const r = await send(client(t, silent.origin, { headersTimeoutMs: 150 }));
  t.equal(r.error?.code, 'NODIX_ERR_HEADERS_TIMEOUT');

  const stalls = await scripted(t, (_i, socket) =>
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'),
  );
  const stalled = await send(client(t, stalls.origin, { bodyTimeoutMs: 150 }));
  t.equal(stalled.status, 200);
  t.equal(stalled.error?.code, 'NODIX_ERR_BODY_TIMEOUT');

  const closes = await scripted(t, (_i, socket) => socket.end());
  const closed = await send(client(t, closes.origin));
  t.equal(closed.error?.code, 'NODIX_ERR_UPSTREAM_CLOSED');

  // A port that was just free: listen, note it, close.
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const c = client(t, `http://127.0.0.1:${port}`);
  const refused = (await send(c)).error as { code?: string; errno?: string } | undefined;
  t.equal(refused?.code, 'NODIX_ERR_CONNECT');
  t.equal(refused?.errno, 'ECONNREFUSED');
});

t.test(
  'body silence: timed from the last read that carried some of the body, never from an earlier response',
  async (t) => {
    // Request 0: head alone, then nothing (the head's read ends where the body would start).
    // Request 1: head, then body bytes 80 ms apart, 240 ms in all, then silence: each read restarts the 150 ms.
    // Request 2: chunked, the head and a first chunk, then silence.
    // Requests 3-5 on one connection: a body in two reads, a small response in one, then a response whose body takes
    // 120 ms to finish: what the first one armed must not cut the third short.
    const up = await scripted(t, (i, socket) => {
      if (i === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n');
      if (i === 1) {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n');
        for (let k = 1; k <= 3; k++) setTimeout(() => socket.write('ab'), 80 * k);
      }
      if (i === 2) socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
      if (i === 3) {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab');
        setTimeout(() => socket.write('cd'), 30);
      }
      if (i === 4) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      if (i === 5) {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nwx');
        setTimeout(() => socket.write('yz'), 120);
      }
    });
    const settings = { bodyTimeoutMs: 150, connections: 1 };
    const headOnly = await send(client(t, up.origin, settings));
    t.equal(headOnly.error?.code, 'NODIX_ERR_BODY_TIMEOUT', 'a head alone, then silence');
    const started = performance.now();
    const trickle = await send(client(t, up.origin, settings));
    t.equal(trickle.body, 'ababab');
    t.equal(trickle.error?.code, 'NODIX_ERR_BODY_TIMEOUT', 'silence after the last read');
    t.ok(performance.now() - started >= 240 + 150 - 20, 'each read restarted the timeout');
    const chunked = await send(client(t, up.origin, settings));
    t.equal(chunked.body, 'abc');
    t.equal(chunked.error?.code, 'NODIX_ERR_BODY_TIMEOUT', 'chunked: silence after a chunk');

    const c = client(t, up.origin, settings);
    const first = await send(c);
    t.same([first.body, first.error], ['abcd', null]);
    await new Promise((resolve) => setTimeout(resolve, 60));
    const second = await send(c);
    t.same([second.body, second.error, second.reused], ['ok', null, true]);
    const third = await send(c);
    t.same([third.body, third.error, third.reused], ['wxyz', null, true], "not cut by the first one's timer");
  },
);

t.test('headers timeout on a reused connection: timed from its own request, not the first one', async (t) => {
  // Request 0 is answered at once, request 1 after 100 ms, request 2 never: with a 250 ms timeout the lazy timer
  // armed by request 0 is pushed back by each send, so request 1 (100 ms) passes and request 2 fails near 250 ms.
  const up = await scripted(t, (i, socket) => {
    const answer = () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    if (i === 0) answer();
    if (i === 1) setTimeout(answer, 100);
  });
  const c = client(t, up.origin, { headersTimeoutMs: 250, connections: 1 });
  t.equal((await send(c)).body, 'ok');
  await new Promise((resolve) => setTimeout(resolve, 200));
  const slow = await send(c);
  t.same([slow.body, slow.error, slow.reused], ['ok', null, true], '100 ms after its own send: in time');
  const started = performance.now();
  const stalled = await send(c);
  const took = performance.now() - started;
  t.equal(stalled.error?.code, 'NODIX_ERR_HEADERS_TIMEOUT');
  t.ok(took >= 240 && took < 1000, `after its own 250 ms (${took.toFixed(0)} ms)`);
});

t.test('a connection limit queues requests in order; abort takes one off the queue', async (t) => {
  const up = await scripted(t, (i, socket) =>
    setTimeout(() => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n${i}`), 20),
  );
  const c = client(t, up.origin, { connections: 1 });
  const results: Promise<Result>[] = [];
  for (let i = 0; i < 3; i++) results.push(send(c));
  let aborted: Error | null = null;
  const call = c.dispatch('GET', '/', ['host', 'a'], null, {
    onHeaders: () => true,
    onData: () => true,
    onComplete: () => {},
    onError: (err) => {
      aborted = err;
    },
  });
  call.abort(new Error('gone'));
  t.equal((aborted as Error | null)?.message, 'gone');
  t.same(
    (await Promise.all(results)).map((r) => r.body),
    ['0', '1', '2'],
  );
  t.equal(up.connections, 1);
});

t.test('close() lets a running exchange finish, then closes its connection', async (t) => {
  const up = await scripted(t, (_i, socket) => setTimeout(() => socket.write(OK), 50));
  const c = new UpstreamClient(up.origin, SETTINGS);
  const pending = send(c);
  await new Promise((resolve) => setTimeout(resolve, 10));
  const closed = c.close();
  t.equal((await pending).body, 'ok');
  await closed;
  t.equal(c.openConnections, 0);
});

t.test('https upstreams: TLS with SNI, and the certificate is verified', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nodix-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const gen = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-keyout',
      'key.pem',
      '-out',
      'cert.pem',
    ],
    { cwd: dir, encoding: 'utf8' },
  );
  t.equal(
    gen.status,
    0,
    `openssl makes a self-signed certificate (is openssl installed?) ${gen.stderr ?? ''}`,
  );
  if (gen.status !== 0) return;
  const names: string[] = [];
  let completed = 0;
  const server = createHttpsServer(
    {
      key: readFileSync(join(dir, 'key.pem')),
      cert: readFileSync(join(dir, 'cert.pem')),
      SNICallback: (servername, done) => {
        names.push(servername);
        done(null);
      },
    },
    (_req, res) => res.end('secret'),
  );
  server.on('secureConnection', () => completed++);
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  // Signed by nobody Node trusts: the handshake must fail, not fall back to plain HTTP or skip verification.
  const byName = await send(client(t, `https://localhost:${port}`));
  t.equal(byName.status, 0);
  t.equal(byName.error?.code, 'NODIX_ERR_UPSTREAM_SOCKET');
  t.match(
    (byName.error as { errno?: string }).errno,
    /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/,
    'certificate refused',
  );
  const byIp = await send(client(t, `https://127.0.0.1:${port}`));
  t.match(
    (byIp.error as { errno?: string }).errno,
    /SELF_SIGNED|UNABLE_TO_VERIFY|CERT|ALTNAME/,
    'certificate refused',
  );
  t.same(names, ['localhost'], 'SNI names the host, never an IP address');
  t.equal(completed, 0, 'no TLS connection completed');
});

t.test(
  'a repeated response head is parsed once but read per request: HEAD, Connection: close, changes',
  async (t) => {
    const heads = [
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', // the same head, answering a HEAD: no body follows
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nfirst',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nsecnd',
      'HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nX-Other: 1\r\n\r\nnope',
    ];
    const up = await scripted(t, (i, socket) => socket.write(heads[i]!));
    const c = client(t, up.origin);
    t.equal((await send(c)).body, 'hello');
    const head = await send(c, { method: 'HEAD' });
    t.same([head.status, head.body, head.error], [200, '', null], 'HEAD: the cached head, no body read');
    const again = await send(c);
    t.same([again.body, again.reused], ['again', true], 'the connection was still in step');
    t.equal(up.connections, 1);
    t.equal((await send(c)).body, 'first');
    t.equal((await send(c)).body, 'secnd');
    t.equal(up.connections, 2, 'Connection: close honoured');
    const other = await send(c);
    t.equal(up.connections, 3, 'and honoured again for the repeated head');
    t.same([other.status, other.headers, other.body], [404, ['Content-Length', '4', 'X-Other', '1'], 'nope']);
  },
);
