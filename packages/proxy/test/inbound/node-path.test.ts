import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Agent, request as httpRequest } from 'node:http';
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from 'node:net';
import t from 'tap';
import {
  rawRequest,
  request,
  sleep,
  startBlackHole,
  startProxy,
  startUpstream,
  table,
  waitFor,
} from '../helpers.js';

t.test('forwards method, path, query and body; keeps Host; sets X-Forwarded-*', async (t) => {
  const up = await startUpstream(t);
  const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const res = await request(port, {
    method: 'POST',
    path: '/a/b?x=1&y=%20',
    host: 'WebApp1.local:8080',
    body: 'hi',
  });
  t.equal(res.status, 200);
  const seen = JSON.parse(res.body);
  t.equal(seen.method, 'POST');
  t.equal(seen.url, '/a/b?x=1&y=%20');
  t.equal(seen.headers.host, 'WebApp1.local:8080', 'the client Host goes upstream unchanged');
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  t.equal(seen.headers['x-forwarded-proto'], 'http');
  t.equal(seen.headers['x-forwarded-host'], 'WebApp1.local:8080');
  t.equal(seen.headers['content-length'], '2');
});

t.test('X-Forwarded-* from untrusted peers are replaced, from trusted ones kept and extended', async (t) => {
  const up = await startUpstream(t);
  const routes = table({ 'webapp1.local': { upstreams: [up.origin] } });
  const forged = {
    'x-forwarded-for': '6.6.6.6',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'evil.example',
  };
  const untrusted = await startProxy(t, routes);
  let seen = JSON.parse((await request(untrusted.port, { headers: forged })).body);
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  t.equal(seen.headers['x-forwarded-proto'], 'http');
  t.equal(seen.headers['x-forwarded-host'], 'webapp1.local');

  const trusted = await startProxy(t, routes, { trustedProxies: ['127.0.0.0/8'] });
  seen = JSON.parse((await request(trusted.port, { headers: forged })).body);
  t.equal(seen.headers['x-forwarded-for'], '6.6.6.6, 127.0.0.1');
  t.equal(seen.headers['x-forwarded-proto'], 'https');
  t.equal(seen.headers['x-forwarded-host'], 'evil.example');
});

t.test('hop-by-hop headers and those named in Connection are dropped both ways', async (t) => {
  const up = await startUpstream(t, (req, res) => {
    const body = JSON.stringify(req.headers);
    res.writeHead(200, [
      'Content-Length',
      String(Buffer.byteLength(body)),
      'Connection',
      'keep-alive, X-Up-Private',
      'X-Up-Private',
      'secret',
      'Keep-Alive',
      'timeout=99, max=7',
      'Proxy-Connection',
      'keep-alive',
      'X-Up-Public',
      'ok',
      'Content-Type',
      'application/json',
    ]);
    res.end(body);
  });
  const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  // Raw, because node's own client refuses to send some of these (Trailer without chunked encoding).
  const raw = await rawRequest(
    port,
    'GET / HTTP/1.1\r\nHost: webapp1.local\r\nConnection: close, X-Client-Private\r\nX-Client-Private: 1\r\n' +
      'Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: x-t\r\nX-Client-Public: 2\r\n\r\n',
  );
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).toLowerCase();
  const res = {
    body: raw.slice(raw.indexOf('\r\n\r\n') + 4),
    headers: Object.fromEntries(
      head
        .split('\r\n')
        .slice(1)
        .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]),
    ),
  };
  const seen = JSON.parse(res.body);
  for (const name of ['x-client-private', 'keep-alive', 'proxy-connection', 'te', 'trailer']) {
    t.notOk(name in seen, `${name} not forwarded upstream`);
  }
  t.equal(seen['x-client-public'], '2');
  t.equal(res.headers['x-up-public'], 'ok');
  t.notOk('x-up-private' in res.headers, 'header named in the upstream Connection dropped');
  t.notOk('proxy-connection' in res.headers);
  t.not(res.headers['keep-alive'], 'timeout=99, max=7', "the upstream's Keep-Alive is not relayed");
});

t.test(
  'Host: missing (1.1) 400, missing (1.0) 404 page, duplicate 400, malformed 400, IPv6 literal routed',
  async (t) => {
    const up = await startUpstream(t);
    const { port } = await startProxy(
      t,
      table({ 'webapp1.local': { upstreams: [up.origin] }, '[::1]': { upstreams: [up.origin] } }),
    );
    const missing11 = await rawRequest(port, 'GET / HTTP/1.1\r\n\r\n');
    t.match(missing11, /^HTTP\/1\.1 400 /);
    t.match(missing11, /connection: close/i);

    const missing10 = await rawRequest(port, 'GET / HTTP/1.0\r\n\r\n');
    t.match(missing10, /^HTTP\/1\.1 404 /);
    t.match(missing10, /This web application is unavailable at the moment!/);

    const duplicate = await rawRequest(
      port,
      'GET / HTTP/1.1\r\nHost: webapp1.local\r\nHost: other.local\r\n\r\n',
    );
    t.match(duplicate, /^HTTP\/1\.1 400 /);
    const duplicateSame = await rawRequest(
      port,
      'GET / HTTP/1.1\r\nHost: webapp1.local\r\nHost: webapp1.local\r\n\r\n',
    );
    t.match(duplicateSame, /^HTTP\/1\.1 400 /, 'two Host headers are refused even when equal');

    for (const bad of [
      'a..b',
      'webapp1.local/x',
      '.webapp1.local',
      'webapp1.local:80:80',
      'we bapp',
      '<script>',
    ]) {
      const res = await request(port, { host: bad });
      t.equal(res.status, 400, JSON.stringify(bad));
    }
    const escaped = await request(port, { host: '<script>alert(1)</script>' });
    t.match(escaped.body, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/, 'the page shows the host HTML-escaped');
    t.notMatch(escaped.body, /<script>/);

    // Control characters never reach the router: node's parser rejects the head ('clientError' → 400).
    const control = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: web\x01app\r\n\r\n');
    t.match(control, /^HTTP\/1\.1 400 /);

    const v6 = await request(port, { host: '[::1]:8080' });
    t.equal(v6.status, 200);
    t.equal(JSON.parse(v6.body).headers.host, '[::1]:8080');
    const trailingDot = await request(port, { host: 'WEBAPP1.local.' });
    t.equal(trailingDot.status, 200);
    t.equal(up.requests.length, 2, 'only the two valid requests reached the upstream');
  },
);

t.test('unknown host: 404 page with the escaped host; replaceable from the route table', async (t) => {
  const up = await startUpstream(t);
  const plain = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const res = await request(plain.port, { host: 'webapp9.local' });
  t.equal(res.status, 404);
  t.match(res.headers['content-type'], /text\/html/);
  t.match(res.body, /This web application is unavailable at the moment!/);
  t.match(res.body, /webapp9\.local/);
  const head = await request(plain.port, { host: 'webapp9.local', method: 'HEAD' });
  t.equal(head.status, 404);
  t.equal(head.body, '');

  const custom = await startProxy(
    t,
    table(
      { 'webapp1.local': { upstreams: [up.origin] } },
      {
        errorPage: '<p>no {{host}} here</p>',
        errorPages: { '502': 'bad gateway for {{host}} ({{status}})' },
      },
    ),
  );
  t.equal((await request(custom.port, { host: 'a&b.local' })).status, 400);
  t.equal((await request(custom.port, { host: 'webapp9.local' })).body, '<p>no webapp9.local here</p>');
  t.equal(up.requests.length, 0);
});

t.test('wildcards: exact first, then the longest suffix', async (t) => {
  const a = await startUpstream(t, (_req, res) => res.end('a'));
  const b = await startUpstream(t, (_req, res) => res.end('b'));
  const c = await startUpstream(t, (_req, res) => res.end('c'));
  const { port } = await startProxy(
    t,
    table({
      'www.example.org': { upstreams: [a.origin] },
      '*.example.org': { upstreams: [b.origin] },
      '*.eu.example.org': { upstreams: [c.origin] },
    }),
  );
  t.equal((await request(port, { host: 'www.example.org' })).body, 'a');
  t.equal((await request(port, { host: 'shop.example.org' })).body, 'b');
  t.equal((await request(port, { host: 'x.shop.example.org' })).body, 'b');
  t.equal((await request(port, { host: 'x.eu.example.org' })).body, 'c');
  t.equal((await request(port, { host: 'example.org' })).status, 404);
});

t.test('absolute-form request targets route by their authority', async (t) => {
  const up = await startUpstream(t);
  const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const raw = await rawRequest(
    port,
    'GET http://webapp1.local/abs?q=1 HTTP/1.1\r\nHost: other.local\r\nConnection: close\r\n\r\n',
  );
  t.match(raw, /^HTTP\/1\.1 200 /);
  const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
  t.equal(body.url, '/abs?q=1');
  t.equal(body.headers.host, 'webapp1.local');
  t.match(await rawRequest(port, 'OPTIONS * HTTP/1.1\r\nHost: webapp1.local\r\n\r\n'), /^HTTP\/1\.1 400 /);
});

t.test('path routes inside a virtual host (find-my-way), by method', async (t) => {
  const main = await startUpstream(t, (_req, res) => res.end('main'));
  const api = await startUpstream(t, (req, res) => res.end(`api ${req.url}`));
  const { port } = await startProxy(
    t,
    table({
      'webapp1.local': {
        upstreams: [main.origin],
        routes: [
          { path: '/api/*', upstreams: [api.origin] },
          { path: '/users/:id', methods: ['POST'], upstreams: [api.origin] },
        ],
      },
    }),
  );
  t.equal((await request(port, { path: '/' })).body, 'main');
  t.equal((await request(port, { path: '/api/v1/x?y=2' })).body, 'api /api/v1/x?y=2');
  t.equal((await request(port, { path: '/users/7' })).body, 'main', 'GET is not routed to the POST route');
  t.equal((await request(port, { path: '/users/7', method: 'POST' })).body, 'api /users/7');
});

t.test('bodies stream both ways: large chunked upload, large download, slow reader', async (t) => {
  const size = 8 * 1024 * 1024;
  const up = await startUpstream(t, (req, res) => {
    if (req.method === 'POST') {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        bytes += c.length;
        hash.update(c);
      });
      req.on('end', () =>
        res.end(JSON.stringify({ bytes, sha: hash.digest('hex'), te: req.headers['transfer-encoding'] })),
      );
      return;
    }
    // Download: 8 MB in 64 KB chunks, respecting backpressure.
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(64 * 1024, 7);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        sent += chunk.length;
        if (!res.write(chunk)) return res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));

  const chunkOf = (offset: number) => Buffer.alloc(256 * 1024, offset % 251);
  const expected = createHash('sha256');
  for (let offset = 0; offset < size; offset += 256 * 1024) expected.update(chunkOf(offset));
  const upload = await new Promise<string>((resolve, reject) => {
    const req = httpRequest(
      {
        port,
        host: '127.0.0.1',
        method: 'POST',
        path: '/',
        headers: { host: 'webapp1.local' },
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve(body));
      },
    );
    req.on('error', reject);
    t.teardown(() => req.destroy());
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        const chunk = chunkOf(sent);
        sent += chunk.length;
        if (!req.write(chunk)) return req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
  const result = JSON.parse(upload);
  t.equal(result.bytes, size);
  t.equal(result.sha, expected.digest('hex'));
  t.equal(
    result.te,
    'chunked',
    'a chunked upload stays chunked upstream (never buffered to compute a length)',
  );

  // Slow reader: the client pauses; the proxy must pause the upstream rather than buffer 8 MB.
  const received = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(
      { port, host: '127.0.0.1', path: '/', headers: { host: 'webapp1.local' }, agent: false },
      (res) => {
        let bytes = 0;
        res.pause();
        setTimeout(() => {
          res.on('data', (c: Buffer) => {
            bytes += c.length;
          });
          res.resume();
        }, 300);
        res.on('end', () => resolve(bytes));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
  t.equal(received, size);
});

t.test('a client aborting mid-upload aborts the upstream request; the proxy keeps serving', async (t) => {
  let upstreamAborted = false;
  const up = await startUpstream(t, (req, res) => {
    if (req.url === '/ok') return res.end('ok');
    req.on('data', () => {});
    req.on('close', () => {
      if (!req.complete) upstreamAborted = true;
    });
  });
  const { port, proxy } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write('POST /upload HTTP/1.1\r\nHost: webapp1.local\r\nContent-Length: 1000000\r\n\r\n');
  socket.write(Buffer.alloc(100_000, 1));
  await waitFor(() => up.requests.length === 1, 5000, 'upstream got the request');
  await sleep(50);
  socket.destroy();
  await waitFor(() => upstreamAborted, 5000, 'upstream request aborted');
  await waitFor(() => proxy.stats().inFlight === 0, 5000, 'proxy in-flight back to 0');
  t.equal((await request(port, { path: '/ok' })).body, 'ok');
});

t.test('a client going away mid-download stops the upstream response', async (t) => {
  let upstreamClosed = false;
  const up = await startUpstream(t, (_req, res) => {
    res.writeHead(200);
    const timer = setInterval(() => res.write('x'.repeat(1024)), 10);
    res.on('close', () => {
      clearInterval(timer);
      upstreamClosed = true;
    });
  });
  const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const req = httpRequest({ port, host: '127.0.0.1', headers: { host: 'webapp1.local' }, agent: false });
  req.on('error', () => {});
  req.end();
  const [res] = await once(req, 'response');
  await once(res, 'data');
  req.destroy();
  await waitFor(() => upstreamClosed, 5000, 'upstream response closed');
  t.pass('upstream saw the abort');
});

t.test('an upstream killed mid-response cuts the client connection (no clean end)', async (t) => {
  const up = await startUpstream(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '100000' });
    res.write('x'.repeat(1000));
    setTimeout(() => res.socket?.destroy(), 50);
  });
  const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const outcome = await new Promise<string>((resolve) => {
    const req = httpRequest(
      { port, host: '127.0.0.1', headers: { host: 'webapp1.local' }, agent: false },
      (res) => {
        t.equal(res.statusCode, 200);
        res.on('data', () => {});
        res.on('end', () => resolve('end'));
        res.on('aborted', () => resolve('aborted'));
        res.on('error', () => resolve('error'));
      },
    );
    req.on('error', () => resolve('error'));
    req.end();
  });
  t.not(outcome, 'end', `the client saw the truncation (${outcome})`);
});

t.test(
  'upstream errors become statuses: refused 502, garbage 502, slower than the timeout 504',
  async (t) => {
    // Garbage: a TCP server that answers something that is not HTTP.
    const garbage = createTcpServer((socket: Socket) => {
      socket.on('data', () => socket.end('SSH-2.0-OpenSSH_9.0\r\nnot http at all\r\n\r\n'));
    });
    garbage.listen(0, '127.0.0.1');
    await once(garbage, 'listening');
    t.teardown(() => new Promise((resolve) => garbage.close(resolve)));
    // Invalid header: bytes node refuses in a header name.
    const badHeader = createTcpServer((socket: Socket) => {
      socket.on('data', () => socket.end('HTTP/1.1 200 OK\r\nBad Header: x\r\ncontent-length: 2\r\n\r\nok'));
    });
    badHeader.listen(0, '127.0.0.1');
    await once(badHeader, 'listening');
    t.teardown(() => new Promise((resolve) => badHeader.close(resolve)));
    // Closes right away.
    const closer = createTcpServer((socket: Socket) => socket.destroy());
    closer.listen(0, '127.0.0.1');
    await once(closer, 'listening');
    t.teardown(() => new Promise((resolve) => closer.close(resolve)));
    const slow = await startUpstream(t, (_req, res) => {
      const timer = setTimeout(() => res.end('late'), 2000);
      res.on('close', () => clearTimeout(timer));
    });
    // A port nobody listens on: take a free one and close it.
    const refused = await startUpstream(t);
    await refused.close();

    const port = (s: { address(): unknown }) => (s.address() as AddressInfo).port;
    const { port: proxyPort, logs } = await startProxy(
      t,
      table({
        'refused.local': { upstreams: [refused.origin] },
        'garbage.local': { upstreams: [`http://127.0.0.1:${port(garbage)}`] },
        'badheader.local': { upstreams: [`http://127.0.0.1:${port(badHeader)}`] },
        'closer.local': { upstreams: [`http://127.0.0.1:${port(closer)}`] },
        'slow.local': { upstreams: [slow.origin] },
      }),
      { timeouts: { upstreamHeadersMs: 300 } },
    );
    const refusedRes = await request(proxyPort, { host: 'refused.local' });
    t.equal(refusedRes.status, 502);
    t.match(refusedRes.body, /refused\.local/);
    t.equal((await request(proxyPort, { host: 'garbage.local' })).status, 502);
    t.equal((await request(proxyPort, { host: 'badheader.local' })).status, 502);
    t.equal((await request(proxyPort, { host: 'closer.local' })).status, 502);
    const started = Date.now();
    const slowRes = await request(proxyPort, { host: 'slow.local' });
    t.equal(slowRes.status, 504);
    t.ok(Date.now() - started < 1800, 'answered at the timeout, not when the upstream finally answered');
    t.match(logs.join('\n'), /refused\.local GET \/ -> http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED \(502\)/);
    t.match(logs.join('\n'), /NODIX_ERR_HEADERS_TIMEOUT \(504\)/);
  },
);

t.test('an upstream whose TCP handshake never completes: 504 at the connect timeout', async (t) => {
  const hole = await startBlackHole(t);
  // undici checks connect timeouts with its coarse timers (a tick every ~0.5 s): the 504 comes between the
  // timeout and about half a second after it.
  const connectMs = 1000;
  const { port, logs } = await startProxy(
    t,
    table({ 'down.local': { upstreams: [hole.origin] } }),
    // The headers timeout is far away: a 504 near connectMs can only be the connect timeout.
    { timeouts: { connectMs, upstreamHeadersMs: 30_000 } },
  );
  for (const attempt of [1, 2]) {
    const started = performance.now();
    const res = await request(port, { host: 'down.local' });
    const elapsed = performance.now() - started;
    t.equal(res.status, 504, `request ${attempt}: 504`);
    t.match(res.body, /down\.local did not answer in time/);
    t.ok(
      elapsed >= connectMs - 50,
      `request ${attempt}: not before the connect timeout (${Math.round(elapsed)} ms)`,
    );
    t.ok(elapsed < connectMs + 1500, `request ${attempt}: soon after it (${Math.round(elapsed)} ms)`);
  }
  t.match(
    logs.join('\n'),
    new RegExp(`down\\.local GET / -> ${hole.origin}: NODIX_ERR_CONNECT_TIMEOUT \\(504\\)`),
  );
});

t.test('an idempotent request that fails on a reused keep-alive socket is retried once', async (t) => {
  let count = 0;
  const up = await startUpstream(t, (req, res) => {
    count++;
    // The second request arrives on the reused socket: drop the connection without answering, as an upstream
    // closing an idle keep-alive socket at the wrong moment does.
    if (count === 2) {
      req.socket.destroy();
      return;
    }
    res.end(`answer ${count} ${req.method}`);
  });
  const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  t.equal((await request(port)).body, 'answer 1 GET');
  t.equal((await request(port)).body, 'answer 3 GET', 'retried on a fresh connection');
  t.equal((await request(port, { method: 'POST', body: 'x' })).body, 'answer 4 POST');
  count = 1; // the next one is dropped again, now with a body: not retried
  const post = await request(port, { method: 'POST', body: 'data' });
  t.equal(post.status, 502, 'a request with a body is not replayed');
});

t.test('16 KB header limit: below passes, above is 431; the limit is configurable', async (t) => {
  const up = await startUpstream(t, (_req, res) => res.end('ok'));
  const routes = table({ 'webapp1.local': { upstreams: [up.origin] } });
  const { port } = await startProxy(t, routes);
  t.equal((await request(port, { headers: { 'x-big': 'a'.repeat(15_000) } })).status, 200);
  const over = await rawRequest(
    port,
    `GET / HTTP/1.1\r\nHost: webapp1.local\r\nX-Big: ${'a'.repeat(17_000)}\r\n\r\n`,
  );
  t.match(over, /^HTTP\/1\.1 431 /);
  const small = await startProxy(t, routes, { limits: { maxHeaderSize: 4096 } });
  const over4k = await rawRequest(
    small.port,
    `GET / HTTP/1.1\r\nHost: webapp1.local\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`,
  );
  t.match(over4k, /^HTTP\/1\.1 431 /);
});

t.test('slowloris: a client trickling its head is answered 408 and cut at the header timeout', async (t) => {
  const up = await startUpstream(t, (_req, res) => res.end('ok'));
  const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }), {
    timeouts: { headerMs: 400 },
  });
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('latin1').on('data', (c: string) => {
    received += c;
  });
  socket.on('error', () => {});
  const started = Date.now();
  socket.write('GET / HTTP/1.1\r\nHost: webapp1.local\r\n');
  const trickle = setInterval(() => socket.write('X-A: b\r\n'), 100);
  t.teardown(() => clearInterval(trickle));
  await once(socket, 'close');
  clearInterval(trickle);
  const elapsed = Date.now() - started;
  t.ok(elapsed >= 350 && elapsed < 2500, `cut after ${elapsed} ms`);
  t.match(received, /^HTTP\/1\.1 408 /);
  t.equal(up.requests.length, 0);
});

t.test('HEAD, 204 and 304 pass through without bodies; 1xx before the response is skipped', async (t) => {
  const up = await startUpstream(t, (req, res) => {
    if (req.url === '/hints') {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      res.writeProcessing();
      return res.end('after hints');
    }
    if (req.url === '/204') {
      res.writeHead(204);
      return res.end();
    }
    if (req.url === '/304') {
      res.writeHead(304, { etag: '"x"' });
      return res.end();
    }
    res.writeHead(200, { 'content-length': '5', 'content-type': 'text/plain' });
    res.end(req.method === 'HEAD' ? undefined : 'hello');
  });
  const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const head = await request(port, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.headers['content-length'], '5');
  t.equal(head.body, '');
  t.equal((await request(port, { path: '/204' })).status, 204);
  const notModified = await request(port, { path: '/304' });
  t.equal(notModified.status, 304);
  t.equal(notModified.headers.etag, '"x"');
  const hinted = await request(port, { path: '/hints' });
  t.equal(hinted.status, 200);
  t.equal(hinted.body, 'after hints');
});

t.test('keep-alive: clients and upstream connections are reused across requests', async (t) => {
  const up = await startUpstream(t, (_req, res) => res.end('ok'));
  const { port, proxy } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const text = await rawRequest(
    port,
    'GET / HTTP/1.1\r\nHost: webapp1.local\r\n\r\nGET / HTTP/1.1\r\nHost: webapp1.local\r\nConnection: close\r\n\r\n',
  );
  t.equal(text.match(/HTTP\/1\.1 200 /g)?.length, 2, 'two pipelined requests, two answers');
  await waitFor(() => proxy.stats().openConnections === 0, 2000, 'client connection closed');
  const sockets = new Set<unknown>();
  up.server.on('request', (req) => sockets.add(req.socket));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  for (let i = 0; i < 5; i++) t.equal((await request(port, { agent })).body, 'ok');
  t.equal(sockets.size, 1, 'five sequential requests used one upstream connection');
  t.equal(proxy.stats().openConnections, 1, 'and one client connection');
});

t.test('random garbage from clients and upstreams never takes the proxy down', async (t) => {
  let n = 0;
  const garbage = createTcpServer((socket: Socket) => {
    socket.on('error', () => {});
    socket.once('data', () => {
      const i = n++;
      // A different kind of broken answer each time, some after a valid status line.
      const answers = [
        'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort',
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
        'HTTP/1.1 999999 What\r\n\r\n',
        'HTTP/1.1 200 OK\r\nX: \u0000\r\n\r\n',
        `HTTP/1.1 200 OK\r\n${'X-Long: y\r\n'.repeat(4000)}\r\n`,
        '\u0000\u0001\u0002',
      ];
      socket.end(answers[i % answers.length]!);
    });
  });
  garbage.listen(0, '127.0.0.1');
  await once(garbage, 'listening');
  t.teardown(() => new Promise((resolve) => garbage.close(resolve)));
  const good = await startUpstream(t, (_req, res) => res.end('fine'));
  const { port } = await startProxy(
    t,
    table({
      'garbage.local': { upstreams: [`http://127.0.0.1:${(garbage.address() as AddressInfo).port}`] },
      'webapp1.local': { upstreams: [good.origin] },
    }),
  );
  for (let i = 0; i < 12; i++) {
    const res = await request(port, { host: 'garbage.local' }).catch((err: Error) => err);
    if (!(res instanceof Error))
      t.ok(res.status === 502 || res.status === 200, `upstream garbage ${i}: ${res.status}`);
  }
  const clientGarbage = [
    'GARBAGE\r\n\r\n',
    'GET / HTTP/9.9\r\nHost: webapp1.local\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: webapp1.local\r\nContent-Length: -1\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: webapp1.local\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: webapp1.local\r\nTransfer-Encoding: chunked\r\n\r\nnothex\r\n',
    'GET /\u0000 HTTP/1.1\r\nHost: webapp1.local\r\n\r\n',
    Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x01]).toString('latin1'),
  ];
  for (const text of clientGarbage) {
    const answer = await rawRequest(port, text, 1000);
    t.notMatch(answer, /^HTTP\/1\.1 2/, JSON.stringify(text.slice(0, 30)));
  }
  t.equal((await request(port)).body, 'fine', 'still serving');
});
