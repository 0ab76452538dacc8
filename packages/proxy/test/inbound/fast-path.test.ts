/**
 * fast-path.ts: plain requests answered off the socket, everything else handed to node:http mid-connection.
 * A raw client on one TCP connection sends request after request and reads the bytes back, so what path served
 * each request shows in the bytes (node:http adds `Connection: keep-alive` and `Keep-Alive` to every keep-alive
 * response; the fast path adds neither) and the connection is checked to survive the hand-over.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import t from 'tap';
import {
  rawClient as client,
  digest,
  digestUpstream,
  scrape,
  sleep,
  startProxy,
  startRawUpstream,
  startUpstream,
  table,
  waitFor,
} from '../helpers.js';

const GET = (path = '/', extra = '') => `GET ${path} HTTP/1.1\r\nHost: webapp1.local\r\n${extra}\r\n`;
const viaNodeHttp = (response: string) => /\r\nKeep-Alive: timeout=/i.test(response);

t.test(
  'fastPath: false leaves every request to node:http (what the differential tests compare)',
  async (t) => {
    const up = await startUpstream(t, (req, res) => res.end(`${req.method} ${req.url}`));
    const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }), {
      fastPath: false,
    });
    const c = await client(t, port);
    for (let i = 0; i < 2; i++) {
      const [r] = await c.send(GET(`/plain${i}`));
      t.match(r, new RegExp(`\\r\\n\\r\\nGET /plain${i}$`));
      t.ok(viaNodeHttp(r!), `request ${i} answered by node:http`);
    }
  },
);

t.test(
  'plain GETs and Content-Length bodies take the fast path; a chunked body, HTTP/1.0 or a split head hand the connection to node:http',
  async (t) => {
    const up = await startUpstream(t, (req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => res.end(`${req.method} ${req.url} ${body}`));
    });
    const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
    const c = await client(t, port);
    for (let i = 0; i < 3; i++) {
      const [r] = await c.send(GET(`/fast${i}`));
      t.match(r, new RegExp(`^HTTP/1\\.1 200 OK\\r\\n[\\s\\S]*\\r\\n\\r\\nGET /fast${i} $`));
      t.notOk(viaNodeHttp(r!), `request ${i} on the fast path`);
      t.match(r, /\r\ndate: /i, 'a Date header either way');
    }
    const [post] = await c.send(
      'POST /body HTTP/1.1\r\nHost: webapp1.local\r\nContent-Length: 5\r\n\r\nhello',
    );
    t.match(post, /\r\n\r\nPOST \/body hello$/);
    t.notOk(viaNodeHttp(post!), 'a Content-Length body stays on the fast path');
    const [chunked] = await c.send(
      'POST /chunked HTTP/1.1\r\nHost: webapp1.local\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    );
    t.match(chunked, /\r\n\r\nPOST \/chunked hello$/);
    t.ok(viaNodeHttp(chunked!), 'a chunked body goes to node:http');
    const [after] = await c.send(GET('/after'));
    t.match(after, /GET \/after $/, 'the connection keeps serving after the hand-over');
    t.ok(viaNodeHttp(after!), 'and stays with node:http');

    const split = await client(t, port);
    split.socket.write('GET /split HTTP/1.1\r\nHost: webapp1');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const [r] = await split.send('.local\r\n\r\n');
    t.match(r, /GET \/split $/, 'a head in two reads is served (by node:http)');

    const old = await client(t, port);
    const [r10] = await old.send('GET /old HTTP/1.0\r\nHost: webapp1.local\r\n\r\n');
    t.match(r10, /^HTTP\/1\.1 200 OK/);
    t.match(r10, /GET \/old $/);
  },
);

t.test('pipelined requests are answered in order', async (t) => {
  const up = await startUpstream(t, (req, res) =>
    setTimeout(() => res.end(req.url), req.url === '/1' ? 30 : 0),
  );
  const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const c = await client(t, port);
  const together = await c.send(GET('/1') + GET('/2') + GET('/3'), 3);
  t.same(
    together.map((r) => r.slice(r.indexOf('\r\n\r\n') + 4)),
    ['/1', '/2', '/3'],
    'three in one write',
  );
  c.socket.write(GET('/1'));
  await new Promise((resolve) => setTimeout(resolve, 5));
  const behind = await c.send(GET('/2'), 2);
  t.same(
    behind.map((r) => r.slice(r.indexOf('\r\n\r\n') + 4)),
    ['/1', '/2'],
    'the second arrives while the first is in flight',
  );
});

t.test(
  'response framing: Content-Length kept, chunked and close-delimited re-framed chunked, HEAD/204/304 bare',
  async (t) => {
    // A raw upstream, to send framings node:http would not choose by itself.
    const sockets = new Set<Socket>();
    const raw = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('data', (data) => {
        const path = /^[A-Z]+ (\S+)/.exec(data.toString('latin1'))?.[1];
        if (path === '/length') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
        else if (path === '/chunked')
          socket.write(
            'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n',
          );
        else if (path === '/close') socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end');
        else if (path === '/head') socket.write('HTTP/1.1 200 OK\r\nX-Head: 1\r\nContent-Length: 42\r\n\r\n');
        else if (path === '/204')
          socket.write('HTTP/1.1 204 No Content\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n');
        else socket.write('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n');
      });
    });
    raw.listen(0, '127.0.0.1');
    await once(raw, 'listening');
    t.teardown(() => {
      for (const s of sockets) s.destroy();
      raw.close();
    });
    const origin = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
    const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [origin] } }));
    const c = await client(t, port);
    const [length] = await c.send(GET('/length'));
    t.match(length, /\r\nContent-Length: 5\r\n[\s\S]*\r\n\r\nhello$/);
    const [chunked] = await c.send(GET('/chunked'));
    t.match(chunked, /\r\ntransfer-encoding: chunked\r\n[\s\S]*\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n$/);
    const [close] = await c.send(GET('/close'));
    t.match(close, /\r\ntransfer-encoding: chunked\r\n[\s\S]*\r\n\r\nd\r\nuntil the end\r\n0\r\n\r\n$/);
    t.notMatch(close, /connection: close/i, "the upstream's Connection: close is its own, not the client's");
    const [head] = await c.send(`HEAD /head HTTP/1.1\r\nHost: webapp1.local\r\n\r\n`);
    t.match(head, /\r\nContent-Length: 42\r\n/);
    const [noContent] = await c.send(GET('/204'));
    t.match(
      noContent,
      /^HTTP\/1\.1 204 No Content\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n$/,
      "the upstream's Date kept",
    );
    const [notModified] = await c.send(GET('/304'));
    t.match(notModified, /^HTTP\/1\.1 304 Not Modified\r\n/);
    const [again] = await c.send(GET('/length'));
    t.match(again, /hello$/, 'one connection for all of it');
  },
);

t.test('Connection: close, upstream failures, client leaving, idle timeout', async (t) => {
  const up = await startUpstream(t, (req, res) => {
    if (req.url === '/slow') return; // never answers
    res.end('ok');
  });
  const { port, adminPort, logs } = await startProxy(
    t,
    table({
      'webapp1.local': { upstreams: [up.origin] },
      'down.local': { upstreams: ['http://127.0.0.1:1'] },
    }),
    { timeouts: { keepAliveMs: 300 } },
  );
  const closing = await client(t, port);
  const [r] = await closing.send(GET('/', 'Connection: close\r\n'));
  t.match(r, /\r\nconnection: close\r\n/i);
  await closing.send('', 2);
  t.ok(closing.closed, 'closed after the response');

  const c = await client(t, port);
  const [bad] = await c.send('GET / HTTP/1.1\r\nHost: down.local\r\n\r\n');
  t.match(bad, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
  t.match(bad, /down\.local/);
  t.match(logs.join('\n'), /down\.local GET \/ -> http:\/\/127\.0\.0\.1:1: ECONNREFUSED \(502\)/);
  const [ok] = await c.send(GET());
  t.match(ok, /ok$/, 'the connection survives an error page');

  c.socket.write(GET('/slow'));
  await new Promise((resolve) => setTimeout(resolve, 100));
  c.socket.end();
  await new Promise((resolve) => setTimeout(resolve, 200));
  const text = await scrape(adminPort!);
  t.match(text, /nodix_proxy_requests_total\{host="webapp1\.local",method="GET",code="499"\} 1/);

  const idle = await client(t, port);
  await idle.send(GET());
  const started = Date.now();
  await idle.send('', 2);
  t.ok(idle.closed, 'an idle keep-alive connection is closed');
  t.ok(Date.now() - started < 2000, `after the keep-alive timeout (${Date.now() - started} ms)`);

  // Each request pushes the keep-alive timeout back (a LazyTimeout: node's timer fires and re-arms): requests
  // 200 ms apart for over a second keep the connection, the first 300 ms of silence ends it.
  const busy = await client(t, port);
  for (let i = 0; i < 6; i++) {
    const [answer] = await busy.send(GET());
    t.match(answer, /ok$/);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  t.notOk(busy.closed, 'kept while requests come within the timeout');
  await busy.send('', 1, 1500);
  t.ok(busy.closed, 'closed once it went idle');
});

const POST = (length: number, path = '/upload') =>
  `POST ${path} HTTP/1.1\r\nHost: webapp1.local\r\nContent-Length: ${length}\r\n\r\n`;
const bodyOf = (response: string | undefined) => response?.slice(response.indexOf('\r\n\r\n') + 4);

t.test('a Content-Length body on the fast path: split anywhere, large, intact', async (t) => {
  const up = await digestUpstream(t);
  const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const c = await client(t, port);

  const small = Buffer.from('hello, upstream');
  c.socket.write(POST(small.length));
  await sleep(30);
  c.socket.write(small.subarray(0, 3));
  await sleep(30);
  c.socket.write(small.subarray(3, 9));
  await sleep(30);
  const [split] = await c.send(small.subarray(9).toString('latin1'));
  t.equal(bodyOf(split), digest(small), 'head alone, then the body in three reads');
  t.notOk(viaNodeHttp(split!), 'served by the fast path');

  const large = randomBytes(8 * 1024 * 1024);
  c.socket.write(POST(large.length));
  c.socket.write(large);
  const [big] = await c.send('');
  t.equal(bodyOf(big), digest(large), '8 MB streamed through intact');

  const [together] = await c.send(`${POST(5)}12345`);
  t.equal(bodyOf(together), digest(Buffer.from('12345')), 'head and body in one write');
  const [after] = await c.send(GET());
  t.match(after, /^HTTP\/1\.1 200 OK/);
  t.notOk(viaNodeHttp(after!), 'the connection stays on the fast path after bodies');
});

t.test('a request behind a body: in the same read, or while the first is in flight', async (t) => {
  const up = await digestUpstream(t, 30);
  const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const c = await client(t, port);
  const [first, second] = await c.send(`${POST(3)}abc${POST(2)}de`, 2);
  t.equal(bodyOf(first), digest(Buffer.from('abc')));
  t.equal(bodyOf(second), digest(Buffer.from('de')), 'pipelined behind a body: both answered in order');
  t.ok(viaNodeHttp(first!), 'by node:http, which the connection was handed to');

  const d = await client(t, port);
  d.socket.write(`${POST(3)}xyz`);
  await sleep(10);
  const [one, two] = await d.send(`${POST(1)}!`, 2);
  t.equal(bodyOf(one), digest(Buffer.from('xyz')));
  t.equal(bodyOf(two), digest(Buffer.from('!')), 'the second waited for the first');
  t.notOk(viaNodeHttp(two!), 'on the fast path');
});

t.test(
  'an upstream that answers before the body is all sent: the client connection closes after it',
  async (t) => {
    const up = await startUpstream(t, (_req, res) => {
      res.writeHead(413, { 'content-type': 'text/plain', 'content-length': 9 });
      res.end('too large');
    });
    const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
    const c = await client(t, port);
    const [r] = await c.send(`${POST(1_000_000)}only the start`);
    t.match(r, /^HTTP\/1\.1 413 /);
    t.match(r, /\r\nconnection: close\r\n/i, 'the client is told');
    t.equal(bodyOf(r), 'too large');
    c.socket.write('more of the body, which nothing reads');
    await c.send('', 2);
    t.ok(c.closed, 'and the connection is closed, not read as a next request');
  },
);

t.test('a client leaving mid-upload aborts the upstream request (499)', async (t) => {
  let aborted: (() => void) | null = null;
  const gone = new Promise<void>((resolve) => {
    aborted = resolve;
  });
  const up = await startUpstream(t, (req) => {
    req.on('data', () => {});
    req.on('close', () => {
      if (!req.complete) aborted?.();
    });
  });
  const { port, adminPort } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const c = await client(t, port);
  c.socket.write(`${POST(100_000)}${'x'.repeat(30_000)}`);
  await waitFor(() => up.requests.length === 1);
  c.socket.destroy();
  await gone;
  t.pass('the upstream saw its request end before its body did');
  await waitFor(async () =>
    /nodix_proxy_requests_total\{host="webapp1\.local",method="POST",code="499"\} 1/.test(
      await scrape(adminPort!),
    ),
  );
  t.pass('counted as 499');
});

t.test(
  'a body that stalls past the request timeout: 408, closed, the upstream request aborted',
  async (t) => {
    let aborted = false;
    const up = await startUpstream(t, (req) => {
      req.on('data', () => {});
      req.on('close', () => {
        if (!req.complete) aborted = true;
      });
    });
    const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }), {
      timeouts: { headerMs: 300, requestMs: 300 },
    });
    const c = await client(t, port);
    const started = Date.now();
    const [r] = await c.send(`${POST(10)}12345`);
    t.match(r, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    t.ok(Date.now() - started >= 250, `after the timeout (${Date.now() - started} ms)`);
    await c.send('', 2);
    t.ok(c.closed, 'connection closed');
    await waitFor(() => aborted);
    t.pass('the upstream request was aborted');
  },
);

t.test('a failed connect is retried with a body that came with its head', async (t) => {
  const up = await digestUpstream(t);
  const { port } = await startProxy(
    t,
    table({
      'webapp1.local': { upstreams: ['http://127.0.0.1:1', up.origin], health: { maxFails: 100 } },
    }),
  );
  const c = await client(t, port);
  // Round-robin: one of the two tries the dead upstream first.
  for (let i = 0; i < 2; i++) {
    const [r] = await c.send(`${POST(4)}body`);
    t.equal(bodyOf(r), digest(Buffer.from('body')), `request ${i} answered by the live upstream`);
  }
  t.equal(up.requests.length, 2);
});

t.test('two Content-Length headers are left to node:http', async (t) => {
  const up = await digestUpstream(t);
  const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const c = await client(t, port);
  const [r] = await c.send(
    'POST / HTTP/1.1\r\nHost: webapp1.local\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc',
  );
  t.match(r, /^HTTP\/1\.1 400 /, 'refused by node:http');
  t.equal(up.requests.length, 0, 'nothing reached the upstream');
});

t.test(
  'a body the upstream reads slowly holds the client back instead of piling up in the proxy',
  async (t) => {
    let release: (() => void) | null = null;
    const up = await startUpstream(t, (req, res) => {
      req.pause();
      release = () => {
        const hash = createHash('sha256');
        let length = 0;
        req.on('data', (chunk: Buffer) => {
          length += chunk.length;
          hash.update(chunk);
        });
        req.on('end', () => res.end(`${length} ${hash.digest('hex')}`));
        req.resume();
      };
    });
    const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
    const c = await client(t, port);
    const body = randomBytes(64 * 1024 * 1024);
    c.socket.write(POST(body.length));
    // In 1 MB writes, so that what the client still holds shows in MB, not as one 64 MB write.
    for (let i = 0; i < body.length; i += 1024 * 1024) c.socket.write(body.subarray(i, i + 1024 * 1024));
    await waitFor(() => release !== null);
    await sleep(300);
    const unsent = c.socket.writableLength;
    t.ok(
      unsent > 16 * 1024 * 1024,
      `the client still holds ${unsent} bytes of 64 MB: the proxy stopped reading`,
    );
    release!();
    const [r] = await c.send('');
    t.equal(bodyOf(r), digest(body), 'all of it arrived once the upstream read');
  },
);

t.test('a repeated request head is parsed once, but a new table or a new head is read afresh', async (t) => {
  const a = await startUpstream(t, (req, res) => res.end(`a ${req.url}`));
  const b = await startUpstream(t, (req, res) => res.end(`b ${req.url}`));
  const { proxy, port } = await startProxy(
    t,
    table({ 'webapp1.local': { upstreams: [a.origin] }, 'webapp2.local': { upstreams: [b.origin] } }),
  );
  const c = await client(t, port);
  t.equal(bodyOf((await c.send(GET('/x')))[0]), 'a /x');
  t.equal(bodyOf((await c.send(GET('/x')))[0]), 'a /x', 'the same head again');
  t.equal(bodyOf((await c.send(GET('/y')))[0]), 'a /y', 'another path');
  t.equal(
    bodyOf((await c.send('GET /x HTTP/1.1\r\nHost: webapp2.local\r\n\r\n'))[0]),
    'b /x',
    'another Host',
  );
  proxy.setRouteTable(table({ 'webapp1.local': { upstreams: [b.origin] } }), 'test');
  const [moved] = await c.send(GET('/x'));
  t.equal(bodyOf(moved), 'b /x', 'the same head after a reload goes where the new table says');
  t.notOk(viaNodeHttp(moved!), 'still on the fast path');
});

t.test('two heads taking turns on one connection are each answered as their own', async (t) => {
  const a = await startUpstream(t, (req, res) => res.end(`a ${req.url}`));
  const b = await startUpstream(t, (req, res) => res.end(`b ${req.url}`));
  const { port } = await startProxy(
    t,
    table({ 'webapp1.local': { upstreams: [a.origin] }, 'webapp2.local': { upstreams: [b.origin] } }),
  );
  const c = await client(t, port);
  const seen: string[] = [];
  for (let i = 0; i < 6; i++) {
    const host = i % 2 === 0 ? 'webapp1.local' : 'webapp2.local';
    const [r] = await c.send(`GET /${host[6]} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    seen.push(bodyOf(r)!);
  }
  t.same(seen, ['a /1', 'b /2', 'a /1', 'b /2', 'a /1', 'b /2']);
});

t.test(
  'an upstream that dies mid-upload: 502, and what the client still sends is read and dropped',
  async (t) => {
    const up = await startUpstream(t, (req) => {
      req.pause();
      setTimeout(() => req.socket.destroy(), 100);
    });
    const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
    const c = await client(t, port);
    const body = randomBytes(32 * 1024 * 1024);
    c.socket.write(POST(body.length));
    for (let i = 0; i < body.length; i += 1024 * 1024) c.socket.write(body.subarray(i, i + 1024 * 1024));
    const started = Date.now();
    const [r] = await c.send('');
    t.match(r, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
    t.match(r, /\r\nconnection: close\r\n/i, 'the client is told the connection ends');
    await waitFor(() => c.socket.writableLength === 0 && c.closed, 4000, 'the client to finish and close');
    t.ok(
      Date.now() - started < 4000,
      `the rest of the body was read off, the connection closed (${Date.now() - started} ms)`,
    );
  },
);

t.test(
  'the upstream gets the same bytes from the fast path as from node:http, whatever the head looks like',
  async (t) => {
    const heads = [
      // Lines forwarded as they came, hop-by-hop and X-Forwarded-* lines dropped between them.
      'GET /a?q=1 HTTP/1.1\r\nHost: webapp1.local\r\nConnection: keep-alive\r\nUser-Agent: ua/1\r\nX-Forwarded-For: 1.2.3.4\r\nAccept: */*\r\nKeep-Alive: 5\r\nCookie: a=b',
      // Unusual whitespace around values: written anew as `name: value`.
      'GET / HTTP/1.1\r\nhost:webapp1.local\r\nX-A:  1 \t \r\nX-B:\t2\r\nX-C: \r\nX-D:\r\nX-E:   \r\nX-F: x y  ',
      // The last line dropped, a name with an underscore dropped, names in any case.
      'GET /b HTTP/1.1\r\nX_Forwarded_For: 5.6.7.8\r\nHOST: webapp1.local\r\nx-request-id: abc\r\nTE: trailers\r\nPROXY-CONNECTION: x\r\nx-forwarded-host: evil',
      // Connection options naming headers (the line-by-line reader), a body, close.
      'POST /c HTTP/1.1\r\nHost: webapp1.local\r\nConnection: close, X-Drop\r\nX-Drop: 1\r\nContent-Length: 3\r\nX-Keep: 2',
      'DELETE /d HTTP/1.1\r\nHost: webapp1.local\r\nContent-Length: 0\r\nTrailer: x\r\nHttp2-Settings: y\r\nConnection: Keep-Alive',
    ];
    const seen = async (fastPath: boolean) => {
      const up = await startRawUpstream(t, (socket, received) => {
        if (received.endsWith('\r\n\r\n') || received.endsWith('abc'))
          socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      });
      const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }), {
        fastPath,
      });
      const out: string[] = [];
      for (const head of heads) {
        const c = await client(t, port);
        const body = head.startsWith('POST') ? 'abc' : '';
        const [r] = await c.send(`${head}\r\n\r\n${body}`);
        t.match(r, /^HTTP\/1\.1 200 OK\r\n/, `answered: ${head.slice(0, 20)}`);
        if (fastPath && !head.includes('X-Drop')) t.notOk(viaNodeHttp(r!), 'on the fast path');
      }
      // The upstream's connections in order, each with the requests it carried; ids differ from run to run.
      for (const received of up.received) out.push(received.replace(/\r\nx-request-id: [^\r]*/g, ''));
      return out;
    };
    const fast = await seen(true);
    const node = await seen(false);
    t.same(fast, node);
    const all = fast.join('');
    t.equal(all.split(' HTTP/1.1\r\n').length - 1, heads.length, 'every request reached the upstream');
    t.match(all, /\r\nhost: webapp1\.local\r\nX-A: 1\r\nX-B: 2\r\nX-C: \r\nX-D: \r\nX-E: \r\nX-F: x y\r\n/);
    t.notMatch(all, /X_Forwarded_For|: abc|TE:|PROXY-|evil|Keep-Alive|X-Drop/);
  },
);

t.test(
  'a parsed head serves other connections only as their own parse would: X-Forwarded-For, trust, per peer',
  async (t) => {
    // The proxy keeps its last parsed heads (HeadMemo) and reuses one for the same text from any connection whose
    // peer reads it the same way. The same bytes from other addresses, trusted or not, must still be forwarded
    // with that connection's own X-Forwarded-For.
    const up = await startUpstream(t, (req, res) => res.end(String(req.headers['x-forwarded-for'])));
    const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }), {
      trustedProxies: ['127.0.0.2'],
    });
    const head = GET('/same', 'X-Forwarded-For: 203.0.113.9\r\n');
    const forwardedFor = async (localAddress: string, times: number): Promise<string[]> => {
      const socket = connect({ port, host: '127.0.0.1', localAddress });
      socket.setEncoding('latin1');
      let received = '';
      socket.on('data', (chunk: string) => {
        received += chunk;
      });
      const seen: string[] = [];
      for (let i = 0; i < times; i++) {
        received = '';
        socket.write(head);
        const complete = () => {
          const end = received.indexOf('\r\n\r\n');
          const length = /\r\ncontent-length: (\d+)/i.exec(received);
          return end !== -1 && length !== null && received.length - end - 4 === Number(length[1]);
        };
        await waitFor(complete, 5000, 'the response');
        t.notOk(viaNodeHttp(received), 'served by the fast path');
        seen.push(received.slice(received.indexOf('\r\n\r\n') + 4));
      }
      socket.destroy();
      return seen;
    };
    t.same(
      await forwardedFor('127.0.0.1', 2),
      ['127.0.0.1', '127.0.0.1'],
      'untrusted: the client value replaced',
    );
    t.same(
      await forwardedFor('127.0.0.2', 2),
      ['203.0.113.9, 127.0.0.2', '203.0.113.9, 127.0.0.2'],
      'trusted',
    );
    t.same(await forwardedFor('127.0.0.3', 1), ['127.0.0.3'], 'another untrusted address');
    t.same(await forwardedFor('127.0.0.1', 1), ['127.0.0.1'], 'a new connection from the first address');
    t.equal(up.requests.length, 6);
  },
);
