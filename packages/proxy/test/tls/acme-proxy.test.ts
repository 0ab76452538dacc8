/**
 * ACME through the whole proxy (createProxy with a TLS listener and `"tls": "acme"` hosts) against Pebble: the
 * route table drives the orders, the plain listener answers HTTP-01, the TLS listener TLS-ALPN-01 and then
 * serves the issued certificate, without a reload.
 */
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { connect } from 'node:tls';
import t from 'tap';
import { createProxy } from '../../src/index.js';
import type { AcmeManager } from '../../src/tls/acme/manager.js';
import { run, writeAtomically } from '../child.js';
import { scrape, startProxy, startUpstream, table, tempDir, waitFor } from '../helpers.js';
import { freePort, startPebble } from './pebble.js';

/** An HTTPS GET to the proxy's TLS port for `host`, trusting only `ca`. */
function httpsGet(port: number, host: string, ca: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, servername: host, headers: { host }, path: '/hello', ca, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The handshake's outcome for `servername`: the alert's text when refused. */
function handshakeOutcome(port: number, servername: string, ALPNProtocols?: string[]) {
  return new Promise<string>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername, ALPNProtocols, rejectUnauthorized: false });
    socket.on('secureConnect', () => {
      socket.destroy();
      resolve('accepted');
    });
    socket.on('error', (err) => resolve(err.message));
  });
}

t.test(
  'HTTP-01 through the plain listener; the TLS listener serves the certificate without a reload',
  async (t) => {
    const upstream = await startUpstream(t);
    const plainPort = await freePort();
    const tlsPort = await freePort();
    const pebble = await startPebble(t, { httpPort: plainPort, tlsPort });
    pebble.dns.set('d.test', '127.0.0.1');
    const dir = tempDir(t);
    const { proxy, logs, adminPort } = await startProxy(t, null, {
      listen: `127.0.0.1:${plainPort}`,
      listenTls: `127.0.0.1:${tlsPort}`,
      routeTable: table({ 'd.test': { upstreams: [upstream.origin], tls: 'acme' } }),
      acme: { dir, directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, pollMs: 100 },
    });
    await waitFor(() => proxy.metrics.acmeOrders.issued === 1, 30_000, 'the certificate');
    t.match(logs.join('\n'), /d\.test: challenge ready: http-01/);
    const root = await pebble.issuingRoot();
    const reply = await httpsGet(tlsPort, 'd.test', root);
    t.equal(reply.status, 200);
    t.equal(JSON.parse(reply.body).headers['x-forwarded-proto'], 'https');
    const metrics = await scrape(adminPort!);
    t.match(metrics, /nodix_proxy_acme_orders_total\{result="issued"\} 1/);
    t.match(metrics, /nodix_proxy_tls_certificate_not_after\{host="d\.test"\} \d{10}/);

    // A name added by a route-table change is ordered at once, no restart; until issued it has no certificate.
    pebble.dns.set('e.test', '127.0.0.1');
    proxy.setRouteTable(
      table({
        'd.test': { upstreams: [upstream.origin], tls: 'acme' },
        'e.test': { upstreams: [upstream.origin], tls: 'acme' },
      }),
    );
    await waitFor(() => proxy.metrics.acmeOrders.issued === 2, 30_000, 'the second certificate');
    t.equal(await handshakeOutcome(tlsPort, 'e.test'), 'accepted');
    t.match(
      await handshakeOutcome(tlsPort, 'nowhere.test'),
      /unrecognized name/i,
      'names of no host are still refused',
    );
    t.equal((await httpsGet(tlsPort, 'e.test', root)).status, 200);
    t.equal((logs.join('\n').match(/order started/g) ?? []).length, 2, 'd.test was not ordered again');
  },
);

t.test(
  'TLS-ALPN-01 through the TLS listener when the plain port is unreachable (the retry switches challenge)',
  async (t) => {
    const upstream = await startUpstream(t);
    const plainPort = await freePort();
    const tlsPort = await freePort();
    // Pebble validates HTTP-01 on a port where nothing listens.
    const pebble = await startPebble(t, { httpPort: await freePort(), tlsPort });
    pebble.dns.set('f.test', '127.0.0.1');
    // While the TLS-ALPN-01 challenge is up, an ordinary client (ALPN http/1.1) must not get the self-signed
    // challenge certificate: with none issued yet, its handshake is refused.
    const logs: string[] = [];
    const ordinary: Promise<string>[] = [];
    const { proxy } = await startProxy(t, null, {
      log: (line) => {
        logs.push(line);
        if (/challenge ready: tls-alpn-01/.test(line))
          ordinary.push(handshakeOutcome(tlsPort, 'f.test', ['http/1.1']));
      },
      listen: `127.0.0.1:${plainPort}`,
      listenTls: `127.0.0.1:${tlsPort}`,
      routeTable: table({ 'f.test': { upstreams: [upstream.origin], tls: 'acme' } }),
      acme: {
        dir: tempDir(t),
        directoryUrl: pebble.directoryUrl,
        caFile: pebble.caFile,
        pollMs: 100,
        retryMinMs: 200,
      },
    });
    await waitFor(() => proxy.metrics.acmeOrders.issued === 1, 30_000, 'the certificate');
    const log = logs.join('\n');
    t.match(log, /f\.test: challenge ready: http-01/);
    t.match(log, /f\.test: order failed \(1 in a row\)/);
    t.match(log, /f\.test: challenge ready: tls-alpn-01/);
    t.equal(proxy.metrics.acmeOrders.failed, 1);
    t.equal(ordinary.length, 1);
    t.match(await ordinary[0], /unrecognized name/i, 'no challenge certificate for an ordinary client');
    const reply = await httpsGet(tlsPort, 'f.test', await pebble.issuingRoot());
    t.equal(reply.status, 200);
  },
);

t.test(
  'two workers: only the primary orders, the workers answer its challenge and serve the certificate',
  async (t) => {
    const upstream = await startUpstream(t);
    const plainPort = await freePort();
    const tlsPort = await freePort();
    const adminPort = await freePort();
    const pebble = await startPebble(t, { httpPort: plainPort, tlsPort });
    pebble.dns.set('g.test', '127.0.0.1');
    const dir = tempDir(t);
    const routes = join(dir, 'routes.json');
    writeAtomically(routes, table({ 'g.test': { upstreams: [upstream.origin], tls: 'acme' } }));
    const r = run(t, [
      '--listen',
      `127.0.0.1:${plainPort}`,
      '--listen-tls',
      `127.0.0.1:${tlsPort}`,
      '--admin-listen',
      `127.0.0.1:${adminPort}`,
      '--routes',
      routes,
      '--workers',
      '2',
      '--acme-dir',
      join(dir, 'acme'),
      '--acme-directory',
      pebble.directoryUrl,
      '--acme-ca',
      pebble.caFile,
    ]);
    t.teardown(async () => {
      if (r.child.exitCode === null) {
        r.child.kill('SIGTERM');
        await r.exit;
      }
    });
    await waitFor(
      () => /g\.test: certificate issued/.test(r.stderr()),
      60_000,
      `the certificate (${r.stderr()})`,
    );
    t.equal((r.stderr().match(/order started/g) ?? []).length, 1, 'one order, by the primary');
    const root = await pebble.issuingRoot();
    // Connections spread over both workers: every one serves the certificate the primary stored.
    for (let i = 0; i < 6; i++)
      t.equal((await httpsGet(tlsPort, 'g.test', root)).status, 200, `request ${i + 1}`);
    t.match(await scrape(adminPort), /nodix_proxy_acme_orders_total\{result="issued"\} 1\n/);
  },
);

t.test('no order before listen(): the CA must find the listeners bound', async (t) => {
  const upstream = await startUpstream(t);
  // A "CA" refusing every request with 400 (acme-client does not retry that; it retries network errors and 5xx
  // for over a minute, which is right against a real CA and too slow here).
  const ca = await startUpstream(t, (_req, res) => {
    res.statusCode = 400;
    res.setHeader('content-type', 'application/problem+json');
    res.end('{"type":"urn:ietf:params:acme:error:malformed","detail":"test CA refuses"}');
  });
  const logs: string[] = [];
  const proxy = createProxy({
    listen: '127.0.0.1:0',
    listenTls: '127.0.0.1:0',
    adminListen: null,
    log: (line) => logs.push(line),
    metrics: { defaultMetrics: false },
    routeTable: table({ 'h.test': { upstreams: [upstream.origin], tls: 'acme' } }),
    acme: { dir: tempDir(t), directoryUrl: `${ca.origin}/dir`, retryMinMs: 60_000 },
  });
  t.teardown(() => proxy.close({ timeoutMs: 0 }));
  // Whatever would have been ordered by now has run to its end (it fails at once against this CA).
  await (proxy.acme as AcmeManager).idle();
  t.notMatch(logs.join('\n'), /order started|order failed/, 'nothing ordered before listen()');
  t.equal(ca.requests.length, 0, 'the CA was not asked');
  await proxy.listen();
  await waitFor(() => proxy.metrics.acmeOrders.failed === 1, 10_000, 'the order after listen()');
  t.match(logs.join('\n'), /h\.test: order failed \(1 in a row\): .*; next retry at/);
});
