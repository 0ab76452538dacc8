/**
 * HTTP/2 (inbound/h2.ts) with real clients (node:http2, curl --http2) over a real TLS socket, to real upstreams.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { constants } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import t from 'tap';
import { createProxy } from '../../src/index.js';
import { h2Request, h2Session, startTlsFront } from '../h2-client.js';
import { digest, digestUpstream, scrape, startRawUpstream, startUpstream, waitFor } from '../helpers.js';

const run = promisify(execFile);

t.test(
  'routes by :authority; the upstream gets an HTTP/1.1 request with Host, joined cookies, X-Forwarded-*',
  async (t) => {
    const a = await startUpstream(t);
    const b = await startUpstream(t);
    const front = await startTlsFront(t, { 'a.test': a.origin, 'b.test': b.origin }, {}, ['nowhere.test']);
    const session = await h2Session(t, front, 'a.test');
    const res = await h2Request(session, {
      ':path': '/x?y=1',
      ':authority': 'a.test',
      cookie: ['one=1', 'two=2'],
      'x-forwarded-proto': 'http',
      te: 'trailers',
    });
    t.equal(res.status, 200);
    const seen = JSON.parse(res.body.toString());
    t.equal(seen.url, '/x?y=1');
    t.equal(seen.rawHeaders[0], 'host', 'Host first, as an HTTP/1.1 client sends it');
    t.equal(seen.headers.host, 'a.test');
    t.equal(
      seen.headers.cookie,
      'one=1; two=2',
      'split cookie fields are joined with "; " (RFC 9113 §8.2.3)',
    );
    t.equal(seen.headers['x-forwarded-proto'], 'https');
    t.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    t.equal(seen.headers['x-forwarded-host'], 'a.test');
    t.match(seen.headers['x-request-id'], /^[0-9a-f]{8}-/);
    t.equal(seen.headers.te, undefined, 'te is hop-by-hop');
    t.equal(seen.headers['transfer-encoding'], undefined, 'a GET that ended with its HEADERS has no body');
    t.equal(res.headers['x-request-id'], undefined);

    // Another :authority on the same connection (the certificate covers both): 421, the client must connect
    // with that name (RFC 9110 §15.5.20), which routes it.
    const misdirected = await h2Request(session, { ':path': '/', ':authority': 'b.test' });
    t.equal(misdirected.status, 421, ':authority other than the SNI name');
    t.equal(b.requests.length, 0);
    const other = await h2Request(await h2Session(t, front, 'b.test'), {
      ':path': '/',
      ':authority': 'b.test',
    });
    t.equal(other.status, 200);
    t.equal(b.requests.length, 1);

    const unknown = await h2Request(await h2Session(t, front, 'nowhere.test'), {
      ':path': '/',
      ':authority': 'nowhere.test',
    });
    t.equal(unknown.status, 404);
    t.match(unknown.body.toString(), 'This web application is unavailable');
    t.match(unknown.headers['x-request-id'], /^[0-9a-f]{8}-/);

    const conflict = await h2Request(session, { ':path': '/', ':authority': 'a.test', host: 'b.test' });
    t.equal(conflict.status, 400, 'a Host field naming another authority than :authority (RFC 9113 §8.3.1)');
    const same = await h2Request(session, { ':path': '/', ':authority': 'a.test', host: 'A.test' });
    t.equal(same.status, 200);
    t.equal(JSON.parse(same.body.toString()).headers.host, 'A.test');

    const connect = await h2Request(session, { ':method': 'CONNECT', ':authority': 'a.test:443' });
    t.equal(connect.status, 405, 'CONNECT is refused');
    t.match(connect.headers['x-request-id'], /^[0-9a-f]{8}-/, 'with its request id');
    t.equal(a.requests.length, 2, 'nothing refused reached the upstream');
  },
);

t.test('curl --http2: routing, the unknown-host page, and HTTP/2 in the response', async (t) => {
  const a = await startUpstream(t);
  const front = await startTlsFront(t, { 'a.test': a.origin }, {}, ['z.test']);
  const curl = async (host: string) => {
    const { stdout } = await run('curl', [
      '--http2',
      '-sS',
      '--cacert',
      front.ca.certFile,
      '--resolve',
      `${host}:${front.tlsPort}:127.0.0.1`,
      '-w',
      '\n%{http_version} %{http_code}',
      `https://${host}:${front.tlsPort}/p`,
    ]);
    const lines = stdout.split('\n');
    return { status: lines.at(-1)!, body: lines.slice(0, -1).join('\n') };
  };
  const ok = await curl('a.test');
  t.equal(ok.status, '2 200');
  t.equal(JSON.parse(ok.body).headers.host, `a.test:${front.tlsPort}`);
  const unknown = await curl('z.test');
  t.equal(unknown.status, '2 404');
  t.match(unknown.body, 'This web application is unavailable');
});

t.test(
  'large bodies both ways arrive intact; a body without content-length goes upstream chunked',
  async (t) => {
    const sink = await digestUpstream(t);
    const big = randomBytes(6 * 1024 * 1024 + 123);
    const source = await startUpstream(t, (_req, res) => {
      res.writeHead(200, { 'content-length': big.length });
      res.end(big);
    });
    const front = await startTlsFront(t, { 'up.test': sink.origin, 'down.test': source.origin });
    const session = await h2Session(t, front, 'up.test');
    const upload = randomBytes(5 * 1024 * 1024 + 7);
    const up = await h2Request(session, { ':method': 'POST', ':path': '/', ':authority': 'up.test' }, upload);
    t.equal(up.status, 200);
    t.equal(up.body.toString(), digest(upload));
    t.equal(sink.requests[0]!.headers['transfer-encoding'], 'chunked');
    const sized = await h2Request(
      session,
      { ':method': 'PUT', ':path': '/', ':authority': 'up.test', 'content-length': upload.length },
      upload,
    );
    t.equal(sized.body.toString(), digest(upload));
    t.equal(sink.requests[1]!.headers['content-length'], String(upload.length));
    t.equal(sink.requests[1]!.headers['transfer-encoding'], undefined);

    const session2 = await h2Session(t, front, 'down.test');
    const down = await h2Request(session2, { ':path': '/', ':authority': 'down.test' });
    t.equal(down.status, 200);
    t.equal(digest(down.body), digest(big));
  },
);

t.test('connection-specific response headers never reach the HTTP/2 client (RFC 9113 §8.2.2)', async (t) => {
  const raw = await startRawUpstream(t, (socket, received) => {
    if (!received.includes('\r\n\r\n')) return;
    socket.end(
      'HTTP/1.1 200 OK\r\nConnection: close, X-Private\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n' +
        'Upgrade: h2c\r\nX-Private: secret\r\nX-Kept: yes\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n' +
        'Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    );
  });
  const front = await startTlsFront(t, { 'a.test': raw.origin });
  const session = await h2Session(t, front, 'a.test');
  const res = await h2Request(session, { ':path': '/', ':authority': 'a.test' });
  t.equal(res.status, 200);
  t.equal(res.body.toString(), 'abc');
  for (const name of [
    'connection',
    'keep-alive',
    'proxy-connection',
    'upgrade',
    'transfer-encoding',
    'x-private',
  ])
    t.equal(res.headers[name], undefined, name);
  t.equal(res.headers['x-kept'], 'yes');
  t.same(res.headers['set-cookie'], ['a=1', 'b=2']);
  t.match(raw.received[0], /^GET \/ HTTP\/1\.1\r\nhost: a\.test\r\n/);
});

t.test(
  'a client reset mid-upload or mid-download aborts the upstream request and frees its socket',
  async (t) => {
    const aborted: string[] = [];
    let uploading: IncomingMessage | null = null;
    const up = await startUpstream(t, (req, res) => {
      if (req.url === '/upload') {
        // Read nothing until the client reset: its body backs up, so the reset comes before END_STREAM could.
        uploading = req;
        req.pause();
        req.on('close', () => {
          if (!req.complete) aborted.push('upload');
        });
        return;
      }
      if (req.url === '/download') {
        res.writeHead(200);
        const chunk = Buffer.alloc(64 * 1024, 'x');
        const pump = () => {
          while (res.write(chunk));
        };
        res.on('drain', pump);
        res.on('close', () => {
          if (!res.writableFinished) aborted.push('download');
        });
        pump();
        return;
      }
      res.end('ok');
    });
    const front = await startTlsFront(t, { 'a.test': up.origin });
    const proxy = front.proxy;
    const session = await h2Session(t, front, 'a.test');

    const upload = session.request({ ':method': 'POST', ':path': '/upload', ':authority': 'a.test' });
    upload.on('error', () => {});
    upload.write(randomBytes(8 * 1024 * 1024));
    await waitFor(() => up.requests.length === 1, 5000, 'the upload to reach the upstream');
    upload.close(constants.NGHTTP2_CANCEL);
    await waitFor(() => proxy.stats().inFlight === 0, 5000, 'the reset to reach the proxy');
    // A paused socket notices no close: read what the proxy sent, up to its end.
    uploading!.resume();
    await waitFor(() => aborted.includes('upload'), 5000, 'the upstream upload to be aborted');

    const download = session.request({ ':path': '/download', ':authority': 'a.test' });
    download.on('error', () => {});
    let received = 0;
    await new Promise<void>((resolve) => {
      download.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > 1024 * 1024) resolve();
      });
    });
    download.close(constants.NGHTTP2_CANCEL);
    await waitFor(() => aborted.includes('download'), 5000, 'the upstream download to be aborted');

    await waitFor(() => proxy.stats().inFlight === 0, 5000, 'no request in flight');
    await waitFor(() => up.sockets.size === 0, 5000, 'the aborted exchanges to close their upstream sockets');
    const after = await h2Request(session, { ':path': '/', ':authority': 'a.test' });
    t.equal(after.status, 200, 'the session and the pool still serve');
    t.equal(after.body.toString(), 'ok');
    t.equal(up.sockets.size, 1, 'one upstream socket for one request: none leaked');
  },
);

t.test(
  'more streams at once than max concurrent streams: all complete or are refused, none hangs',
  async (t) => {
    let active = 0;
    let most = 0;
    const up = await startUpstream(t, (_req, res) => {
      active++;
      most = Math.max(most, active);
      setTimeout(() => {
        active--;
        res.end('done');
      }, 20);
    });
    const front = await startTlsFront(t, { 'a.test': up.origin }, { h2: { maxConcurrentStreams: 4 } });
    const proxy = front.proxy;
    const session = await h2Session(t, front, 'a.test');
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, () => h2Request(session, { ':path': '/', ':authority': 'a.test' })),
    );
    let done = 0;
    for (const result of results) {
      if (result.status === 'fulfilled') {
        t.equal(result.value.status, 200);
        done++;
      } else {
        t.match(String(result.reason), /REFUSED_STREAM|NGHTTP2_REFUSED_STREAM/, 'a refusal, nothing else');
      }
    }
    t.ok(done >= 4, `${done} of 60 completed`);
    t.ok(most <= 4, `the upstream saw at most 4 at once (${most})`);
    t.equal(proxy.stats().inFlight, 0);
  },
);

t.test('upstream down: the 502 page; access log and metrics count HTTP/2 requests', async (t) => {
  const dead = await startUpstream(t);
  await dead.close();
  const live = await startUpstream(t);
  const lines: string[] = [];
  const log = new PassThrough();
  log.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  const front = await startTlsFront(
    t,
    { 'dead.test': dead.origin, 'a.test': live.origin },
    { accessLog: log, accessLogFormat: 'json' },
  );
  const adminPort = front.adminPort;
  const session = await h2Session(t, front, 'a.test');
  const dead2 = await h2Session(t, front, 'dead.test');
  const res = await h2Request(dead2, { ':path': '/gone', ':authority': 'dead.test' });
  t.equal(res.status, 502);
  t.match(res.body.toString(), 'could not be reached');
  const ok = await h2Request(session, { ':path': '/here', ':authority': 'a.test' });
  t.equal(ok.status, 200);
  await waitFor(() => lines.length >= 2, 5000, 'two access log lines');
  const entries = lines.map((line) => JSON.parse(line));
  const gone = entries.find((e) => e.path === '/gone');
  const here = entries.find((e) => e.path === '/here');
  t.match(gone, { status: 502, protocol: 'HTTP/2.0', host: 'dead.test' });
  t.match(here, { status: 200, protocol: 'HTTP/2.0', host: 'a.test', vhost: 'a.test' });
  t.equal(here.requestId, JSON.parse(ok.body.toString()).headers['x-request-id']);
  const metrics = await scrape(adminPort!);
  t.match(metrics, /nodix_proxy_h2_streams_total 2/);
  t.match(metrics, /nodix_proxy_h2_sessions 2/);
  t.match(metrics, /nodix_proxy_requests_total\{host="a.test",method="GET",code="200"\} 1/);
  t.match(metrics, /nodix_proxy_requests_total\{host="dead.test",method="GET",code="502"\} 1/);
});

t.test(
  'HTTP/1.1 on the same TLS listener still works; with --h2 off only http/1.1 is negotiated',
  async (t) => {
    const a = await startUpstream(t);
    const curl = async (port: number, ca: string, flag: string) => {
      const { stdout } = await run('curl', [
        flag,
        '-sS',
        '--cacert',
        ca,
        '--resolve',
        `a.test:${port}:127.0.0.1`,
        '-w',
        '\n%{http_version} %{http_code}',
        `https://a.test:${port}/`,
      ]);
      const lines = stdout.split('\n');
      return { status: lines.at(-1)!, body: JSON.parse(lines.slice(0, -1).join('\n')) };
    };
    const on = await startTlsFront(t, { 'a.test': a.origin });
    const h1 = await curl(on.tlsPort, on.ca.certFile, '--http1.1');
    t.equal(h1.status, '1.1 200');
    t.equal(h1.body.headers['x-forwarded-proto'], 'https');
    t.equal((await curl(on.tlsPort, on.ca.certFile, '--http2')).status, '2 200');

    const off = await startTlsFront(t, { 'a.test': a.origin }, { h2: { enabled: false } });
    t.equal(off.proxy.h2, null);
    const fallback = await curl(off.tlsPort, off.ca.certFile, '--http2');
    t.equal(fallback.status, '1.1 200', 'curl --http2 falls back to HTTP/1.1 when h2 is not offered');
  },
);

t.test('createProxy checks the h2 options', async (t) => {
  t.throws(() => createProxy({ h2: { maxConcurrentStreams: 0 } }), {
    name: 'ProxyConfigError',
    message: /h2\.maxConcurrentStreams/,
  });
  t.throws(() => createProxy({ h2: { initialWindowSize: 100 } }), /h2\.initialWindowSize must be from 1024/);
  t.throws(() => createProxy({ h2: { bogus: 1 } as never }), /unknown option h2\.bogus/);
});

t.test(
  'graceful shutdown: GOAWAY to the session, the open stream finishes, new streams are refused',
  async (t) => {
    let release: (() => void) | null = null;
    const up = await startUpstream(t, (_req, res) => {
      release = () => res.end('late');
    });
    const front = await startTlsFront(t, { 'a.test': up.origin });
    const session = await h2Session(t, front, 'a.test');
    const pending = h2Request(session, { ':path': '/', ':authority': 'a.test' });
    await waitFor(() => release !== null, 5000, 'the request to reach the upstream');
    const goaway = new Promise((resolve) => session.once('goaway', resolve));
    const closed = front.proxy.close({ timeoutMs: 5000 });
    await goaway;
    await t.rejects(
      h2Request(session, { ':path': '/', ':authority': 'a.test' }),
      'no new stream after GOAWAY',
    );
    release!();
    const res = await pending;
    t.equal(res.status, 200);
    t.equal(res.body.toString(), 'late', 'the stream open at GOAWAY completed');
    await closed;
  },
);

t.test(
  'the same request over HTTP/1.1 and HTTP/2 reaches the upstream as the same bytes (request id aside)',
  async (t) => {
    const raw = await startRawUpstream(t, (socket, received) => {
      const end = received.indexOf('\r\n\r\n');
      if (end === -1 || received.length < end + 4 + 5) return;
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    const front = await startTlsFront(t, { 'a.test': raw.origin });
    const body = Buffer.from('hello');
    const h1 = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: front.tlsPort,
          servername: 'a.test',
          ca: front.ca.certPem,
          method: 'POST',
          path: '/p?q=1',
          setHost: false,
          agent: false,
          headers: [
            'host',
            'a.test',
            'content-length',
            '5',
            'cookie',
            'a=1; b=2',
            'user-agent',
            'diff/1',
            'x_under',
            'dropped',
          ],
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    t.equal(h1, 200);
    const session = await h2Session(t, front, 'a.test');
    const h2 = await h2Request(
      session,
      {
        ':method': 'POST',
        ':path': '/p?q=1',
        ':authority': 'a.test',
        'content-length': '5',
        cookie: ['a=1', 'b=2'],
        'user-agent': 'diff/1',
        x_under: 'dropped',
      },
      body,
    );
    t.equal(h2.status, 200);
    t.equal(raw.received.length, 2);
    const withoutId = (text: string) => text.replace(/x-request-id: \S+\r\n/, 'x-request-id: ID\r\n');
    t.equal(withoutId(raw.received[1]!), withoutId(raw.received[0]!));
    t.match(raw.received[0], /^POST \/p\?q=1 HTTP\/1\.1\r\nhost: a\.test\r\n/);
    t.match(raw.received[0], /x-forwarded-proto: https\r\n/);
    t.notMatch(raw.received[0], /x_under/);
  },
);

const A = 'a.test';

t.test('requests with and without an (empty) body are retried after a refused connect', async (t) => {
  const dead = await startUpstream(t);
  await dead.close();
  const live = await digestUpstream(t);
  const f = await startTlsFront(t, { [A]: [dead.origin, live.origin] });
  const session = await h2Session(t, f, A);
  for (let i = 0; i < 4; i++) {
    const get = await h2Request(session, { ':path': '/', ':authority': A });
    t.equal(get.body.toString(), digest(Buffer.alloc(0)), `GET ${i}`);
    // An empty body ended by an empty DATA frame: nothing was read, so it may go to the next upstream.
    const post = await h2Request(
      session,
      { ':method': 'POST', ':path': '/', ':authority': A },
      Buffer.alloc(0),
    );
    t.equal(post.body.toString(), digest(Buffer.alloc(0)), `POST ${i}`);
  }
  t.equal(f.proxy.stats().inFlight, 0);
});
