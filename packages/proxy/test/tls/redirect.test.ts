/**
 * `redirectHttps` (308 from the plain listener, ACME challenges excepted) and `hsts` (on TLS responses only), on
 * the fast path, the node:http path and the upgrade path, with node clients and curl following the redirect.
 */
import t, { type Test } from 'tap';
import { RoutedRequest, redirectLocation } from '../../src/inbound/route.js';
import { certDir, makeCa, makeLeaf } from '../certs.js';
import { rawRequest, request, startProxy, startUpstream, table } from '../helpers.js';
import { httpsGet, run } from './client.js';

async function setup(t: Test) {
  const ca = makeCa(certDir(t));
  const r = makeLeaf(ca, { names: ['r.test'] });
  const n = makeLeaf(ca, { names: ['n.test'], keyType: 'rsa' });
  const upstream = await startUpstream(t);
  const started = await startProxy(
    t,
    table({
      'r.test': {
        upstreams: [upstream.origin],
        tls: { cert: r.certFile, key: r.keyFile },
        redirectHttps: true,
        hsts: { maxAge: 600, includeSubDomains: true },
      },
      'n.test': { upstreams: [upstream.origin], tls: { cert: n.certFile, key: n.keyFile } },
    }),
    { listenTls: '127.0.0.1:0' },
  );
  const tlsPort = (started.proxy.tls!.server.address() as { port: number }).port;
  return { ...started, ca, upstream, tlsPort };
}

t.test('plain HTTP to a redirectHttps host: 308 to the https URL, path and query kept', async (t) => {
  const { port, tlsPort, upstream } = await setup(t);
  const before = upstream.requests.length;
  const fast = await request(port, { host: 'r.test', path: '/a/b?q=1' });
  t.equal(fast.status, 308);
  t.equal(fast.headers.location, `https://r.test:${tlsPort}/a/b?q=1`);
  t.equal(fast.headers['strict-transport-security'], undefined, 'never HSTS on plain HTTP');
  const withPort = await rawRequest(
    port,
    'POST /form HTTP/1.1\r\nHost: R.Test:8080\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n',
  );
  t.match(withPort, /^HTTP\/1\.1 308 Permanent Redirect\r\n/);
  t.match(
    withPort,
    new RegExp(`\r\nlocation: https://r.test:${tlsPort}/form\r\n`),
    'host normalised, port replaced',
  );
  const http10 = await rawRequest(port, 'GET /old HTTP/1.0\r\nHost: r.test\r\n\r\n');
  t.match(http10, new RegExp(`location: https://r.test:${tlsPort}/old`));
  const upgrade = await rawRequest(
    port,
    'GET /ws HTTP/1.1\r\nHost: r.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
  );
  t.match(upgrade, /^HTTP\/1\.1 308 Permanent Redirect\r\n/, 'an upgrade request is redirected too');
  t.match(upgrade, new RegExp(`location: https://r.test:${tlsPort}/ws`));
  t.equal(upstream.requests.length, before, 'no redirected request reached the upstream');

  const challenge = await request(port, { host: 'r.test', path: '/.well-known/acme-challenge/token123' });
  t.equal(challenge.status, 200, 'ACME HTTP-01 challenges are not redirected');
  t.equal(JSON.parse(challenge.body).url, '/.well-known/acme-challenge/token123');
  const other = await request(port, { host: 'n.test', path: '/' });
  t.equal(other.status, 200, 'hosts without redirectHttps are served over plain HTTP');
});

t.test('HSTS on TLS responses of hosts that set it: fast path and node:http path', async (t) => {
  const { tlsPort, ca } = await setup(t);
  const fast = await httpsGet(tlsPort, { servername: 'r.test', ca: ca.certPem });
  t.equal(fast.status, 200);
  t.equal(fast.headers['strict-transport-security'], 'max-age=600; includeSubDomains');
  t.equal(JSON.parse(fast.body).headers['x-forwarded-proto'], 'https');
  const node = await httpsGet(tlsPort, {
    servername: 'r.test',
    ca: ca.certPem,
    method: 'POST',
    headers: { 'transfer-encoding': 'chunked' },
    body: 'x',
  });
  t.equal(node.status, 200);
  t.equal(node.headers['strict-transport-security'], 'max-age=600; includeSubDomains', 'node:http path');
  const none = await httpsGet(tlsPort, { servername: 'n.test', ca: ca.certPem });
  t.equal(none.headers['strict-transport-security'], undefined, 'a host without hsts sends none');
});

t.test('curl follows the redirect to the TLS listener', async (t) => {
  const { port, tlsPort, ca } = await setup(t);
  const curl = await run('curl', [
    '-sS',
    '-L',
    '--resolve',
    `r.test:${port}:127.0.0.1`,
    '--resolve',
    `r.test:${tlsPort}:127.0.0.1`,
    '--cacert',
    ca.certFile,
    '-D',
    '-',
    `http://r.test:${port}/start`,
  ]);
  t.equal(curl.code, 0, curl.stderr);
  t.match(curl.stdout, /HTTP\/1\.1 308/);
  t.match(curl.stdout, /strict-transport-security: max-age=600; includeSubDomains/);
  t.match(curl.stdout, /"x-forwarded-proto":"https"/);
});

t.test('the port is left out of the redirect when the TLS listener is on 443', async (t) => {
  const head = new RoutedRequest();
  head.host = 'Example.ORG.:80';
  head.path = '/x?y';
  t.equal(redirectLocation(head, ''), 'https://example.org/x?y');
  t.equal(redirectLocation(head, ':8443'), 'https://example.org:8443/x?y');
});
