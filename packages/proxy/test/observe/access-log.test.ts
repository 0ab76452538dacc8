/**
 * Access log formats and request ids, the same on the fast path, the node:http path and the upgrade path: the id
 * the upstream gets as X-Request-Id is the one logged and shown on error pages; a trusted proxy's id is kept.
 */
import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { request, scrape, startProxy, startUpstream, table, waitFor } from '../helpers.js';

function logInto(): { stream: PassThrough; lines: () => string[] } {
  const stream = new PassThrough();
  let text = '';
  stream.setEncoding('utf8').on('data', (c: string) => {
    text += c;
  });
  return { stream, lines: () => text.split('\n').filter((l) => l !== '') };
}

for (const fastPath of [true, false]) {
  t.test(
    `json format, ${fastPath ? 'fast path' : 'node:http path'}: one id upstream, in the log, on error pages`,
    async (t) => {
      const up = await startUpstream(t, (req, res) => {
        req.resume();
        req.on('end', () => res.end(`seen ${req.headers['x-request-id']}`));
      });
      const log = logInto();
      const { port } = await startProxy(
        t,
        table({
          'webapp1.local': { upstreams: [up.origin] },
          'dead.local': { upstreams: ['http://127.0.0.1:1'] },
        }),
        { accessLog: log.stream, accessLogFormat: 'json', fastPath, adminListen: null },
      );
      const res = await request(port, {
        method: 'POST',
        path: '/form?x=1',
        body: 'hello=1',
        headers: { 'user-agent': 'tester/1.0', referer: 'http://ref.example/', 'x-request-id': 'forged' },
      });
      const id = /^seen (.+)$/.exec(res.body)![1]!;
      t.match(id, /^[0-9a-f]{8}-[0-9a-z]+$/, "the proxy's own id (a client's is not trusted)");
      await waitFor(() => log.lines().length === 1, 3000, 'log line');
      const entry = JSON.parse(log.lines()[0]!);
      t.match(entry, {
        requestId: id,
        remoteAddr: '127.0.0.1',
        method: 'POST',
        path: '/form?x=1',
        protocol: 'HTTP/1.1',
        host: 'webapp1.local',
        vhost: 'webapp1.local',
        status: 200,
        bytesIn: 7,
        bytesOut: res.body.length,
        upstream: up.origin,
        userAgent: 'tester/1.0',
        referer: 'http://ref.example/',
      });
      t.type(entry.upstreamTimeMs, 'number');
      t.ok(entry.totalTimeMs >= entry.upstreamTimeMs, 'total time covers the upstream time');

      const dead = await request(port, { host: 'dead.local' });
      t.equal(dead.status, 502);
      const deadId = dead.headers['x-request-id'] as string;
      t.match(deadId, /^[0-9a-f]{8}-[0-9a-z]+$/);
      t.not(deadId, id);
      t.match(dead.body, `Request ID: <code>${deadId}</code>`);
      const unknown = await request(port, { host: 'nobody.local' });
      t.equal(unknown.status, 404);
      t.match(unknown.body, `Request ID: <code>${unknown.headers['x-request-id']}</code>`);
      await waitFor(() => log.lines().length === 3, 3000, 'three log lines');
      const [, failed, missing] = log.lines().map((l) => JSON.parse(l));
      t.match(failed, { requestId: deadId, status: 502, upstream: 'http://127.0.0.1:1', bytesOut: 0 });
      t.match(missing, {
        requestId: unknown.headers['x-request-id'],
        status: 404,
        vhost: null,
        upstream: null,
        upstreamTimeMs: null,
      });
    },
  );
}

t.test('a trusted proxy keeps its X-Request-Id (both paths); common and combined formats', async (t) => {
  const up = await startUpstream(t, (req, res) => res.end(`seen ${req.headers['x-request-id']}`));
  for (const fastPath of [true, false]) {
    const log = logInto();
    const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }), {
      accessLog: log.stream,
      accessLogFormat: 'combined',
      trustedProxies: ['127.0.0.1'],
      fastPath,
      adminListen: null,
    });
    const res = await request(port, {
      path: '/a"b',
      headers: { 'x-request-id': 'edge-42', 'user-agent': 'ua "quoted"' },
    });
    t.equal(res.body, 'seen edge-42');
    await waitFor(() => log.lines().length === 1, 3000, 'log line');
    t.match(
      log.lines()[0],
      /^127\.0\.0\.1 - - \[\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET \/a\\x22b HTTP\/1\.1" 200 12 "-" "ua \\x22quoted\\x22"$/,
    );
  }
  const log = logInto();
  const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }), {
    accessLog: log.stream,
    accessLogFormat: 'common',
    adminListen: null,
  });
  await request(port, { method: 'HEAD' });
  await waitFor(() => log.lines().length === 1, 3000, 'log line');
  t.match(log.lines()[0], /\] "HEAD \/ HTTP\/1\.1" 200 -$/, 'no body: - as in CLF');
});

t.test('the upgrade path sends, logs and shows the same request id', async (t) => {
  const up = await startUpstream(t);
  let seen: string | undefined;
  up.server.on('upgrade', (req, socket) => {
    seen = req.headers['x-request-id'] as string;
    socket.end('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: test\r\n\r\n');
  });
  const log = logInto();
  const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }), {
    accessLog: log.stream,
    accessLogFormat: 'json',
    adminListen: null,
  });
  const socket = connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  socket.write('GET /ws HTTP/1.1\r\nhost: webapp1.local\r\nconnection: upgrade\r\nupgrade: test\r\n\r\n');
  await waitFor(() => log.lines().length === 1, 3000, 'log line');
  const entry = JSON.parse(log.lines()[0]!);
  t.match(entry, { status: 101, upstream: up.origin, path: '/ws' });
  t.equal(entry.requestId, seen, 'the id the upstream got is the one logged');
});

t.test(
  'metrics: bytes per host, requests and latency per upstream origin, bounded by the table',
  async (t) => {
    const a = await startUpstream(t, (req, res) => {
      req.resume();
      req.on('end', () => res.end('0123456789'));
    });
    const b = await startUpstream(t, (_req, res) => res.end('b'));
    for (const fastPath of [true, false]) {
      const { proxy, port, adminPort } = await startProxy(
        t,
        table({
          'webapp1.local': { upstreams: [a.origin] },
          'webapp2.local': { upstreams: [a.origin, b.origin] },
        }),
        { fastPath },
      );
      await request(port, { method: 'POST', body: 'x'.repeat(100) });
      await request(port);
      const text = await scrape(adminPort!);
      t.match(text, /nodix_proxy_received_bytes_total\{host="webapp1\.local"\} 100\n/);
      t.match(text, /nodix_proxy_sent_bytes_total\{host="webapp1\.local"\} 20\n/);
      t.match(
        text,
        new RegExp(`nodix_proxy_upstream_requests_total\\{upstream="${a.origin}",code="200"\\} 2\\n`),
      );
      t.match(
        text,
        new RegExp(`nodix_proxy_upstream_duration_seconds_count\\{upstream="${a.origin}"\\} 2\\n`),
      );
      t.match(
        text,
        new RegExp(
          `nodix_proxy_upstream_duration_seconds_bucket\\{upstream="${a.origin}",le="\\+Inf"\\} 2\\n`,
        ),
      );
      // A reload that drops b and webapp2: their series go with them.
      proxy.setRouteTable(table({ 'webapp1.local': { upstreams: [a.origin] } }));
      const after = await scrape(adminPort!);
      t.notMatch(after, b.origin);
      t.notMatch(after, 'webapp2.local');
      t.match(after, a.origin);
    }
  },
);
