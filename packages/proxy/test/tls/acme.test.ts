/**
 * ACME end to end against Pebble (test/tls/pebble.ts): real orders, real HTTP-01 validation through the proxy's
 * plain listener, certificates served over TLS and verified against Pebble's issuing root, renewal, failures
 * with backoff, restarts reusing the stored state, file modes.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer, type SecureContext, type TLSSocket } from 'node:tls';
import t, { type Test } from 'tap';
import { ProxyMetrics } from '../../src/observe/metrics.js';
import { offersOnlyAcmeTls } from '../../src/tls/acme/client-hello.js';
import { AcmeManager, type AcmeManagerOptions } from '../../src/tls/acme/manager.js';
import { request, startProxy, startUpstream, table, tempDir, waitFor } from '../helpers.js';
import { freePort, type Pebble, startPebble } from './pebble.js';
import { peekWhilePending } from './peek-hello.js';

interface Started {
  manager: AcmeManager;
  logs: string[];
  metrics: ProxyMetrics;
}

function startManager(
  t: Test,
  pebble: Pebble,
  dir: string,
  options: Partial<AcmeManagerOptions> = {},
): Started {
  const logs: string[] = [];
  const metrics = new ProxyMetrics({ defaultMetrics: false });
  const manager = new AcmeManager({
    dir,
    directoryUrl: pebble.directoryUrl,
    caFile: pebble.caFile,
    email: 'ops@example.test',
    pollMs: 100,
    log: (line) => logs.push(line),
    onOrder: (result) => metrics.acmeOrders[result]++,
    ...options,
  });
  t.teardown(() => manager.close());
  return { manager, logs, metrics };
}

/**
 * A TLS server choosing its certificate from `contextFor` by SNI, as tls-core's listener does; with `manager`,
 * it serves TLS-ALPN-01 challenge certificates to ClientHellos offering only acme-tls/1 (client-hello.ts).
 */
async function tlsServer(
  t: Test,
  contextFor: (name: string) => SecureContext | undefined,
  manager: AcmeManager | null = null,
): Promise<number> {
  const server = createServer({
    ALPNProtocols: ['http/1.1', 'acme-tls/1'],
    SNICallback(this: TLSSocket, name, cb) {
      const challenge = manager !== null && offersOnlyAcmeTls(this) ? manager.alpnContext(name) : undefined;
      const context = challenge ?? contextFor(name);
      if (context === undefined) cb(new Error(`no certificate for ${name}`));
      else cb(null, context);
    },
  });
  if (manager !== null) peekWhilePending(server, () => manager.alpnPending);
  server.on('secureConnection', (socket) => socket.end('hello\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return (server.address() as { port: number }).port;
}

/** Handshakes for `servername` trusting only `ca`; the peer certificate's names and what was read. */
function handshake(port: number, servername: string, ca: string, ALPNProtocols?: string[]) {
  return new Promise<{ subjectaltname: string; text: string }>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername, ca, ALPNProtocols }, () => {
      const peer = socket.getPeerCertificate();
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk) => (text += chunk));
      socket.on('end', () => resolve({ subjectaltname: peer.subjectaltname ?? '', text }));
    });
    socket.on('error', reject);
  });
}

/** Every file under `dir` with its mode bits. */
function modes(dir: string): [string, number][] {
  const out: [string, number][] = [[dir, statSync(dir).mode & 0o777]];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...modes(path));
    else out.push([path, statSync(path).mode & 0o777]);
  }
  return out;
}

t.test(
  'HTTP-01: issued through the proxy, served over TLS, reused after a restart, renewed when due',
  async (t) => {
    const upstream = await startUpstream(t);
    const { port, proxy } = await startProxy(t, table({ 'a.test': { upstreams: [upstream.origin] } }));
    const pebble = await startPebble(t, { httpPort: port, tlsPort: await freePort() });
    pebble.dns.set('a.test', '127.0.0.1');
    const dir = join(tempDir(t), 'acme');

    const first = startManager(t, pebble, dir, { onOrder: (result) => proxy.metrics.acmeOrders[result]++ });
    first.manager.setNames(['a.test']);
    await first.manager.idle();
    t.match(first.logs.join('\n'), /a\.test: order started \(new certificate\)/);
    t.match(first.logs.join('\n'), /a\.test: challenge ready: http-01 at \/\.well-known\/acme-challenge\//);
    t.match(first.logs.join('\n'), /a\.test: certificate issued, valid until/);
    t.same(proxy.metrics.acmeOrders, { issued: 1, renewed: 0, failed: 0 });
    const metricsText = await proxy.metrics.registry.metrics();
    t.match(metricsText, /nodix_proxy_acme_orders_total\{result="issued"\} 1/);

    // Served over TLS, with a chain that verifies against Pebble's root (only that root trusted).
    const root = await pebble.issuingRoot();
    const tlsPort = await tlsServer(t, (name) => first.manager.contextFor(name));
    const served = await handshake(tlsPort, 'a.test', root);
    t.equal(served.subjectaltname, 'DNS:a.test');
    t.equal(served.text, 'hello\n');
    t.ok((first.manager.notAfterFor('a.test') ?? 0) > Date.now() / 1000);

    // The challenge path is no longer answered: normal routing again (the upstream answers).
    const after = await request(port, { host: 'a.test', path: '/.well-known/acme-challenge/x' });
    t.equal(after.status, 200);
    t.equal(JSON.parse(after.body).url, '/.well-known/acme-challenge/x', 'forwarded upstream');

    // No file or directory readable by group or others.
    for (const [path, mode] of modes(dir)) t.equal(mode & 0o077, 0, `${path} is 0${mode.toString(8)}`);
    t.same(
      readdirSync(join(dir, 'certs', 'a.test')).sort(),
      ['cert.pem', 'key.pem'],
      'key and certificate stored, no retry state',
    );
    await first.manager.close();

    // A restart loads the stored certificate and orders nothing.
    const second = startManager(t, pebble, dir);
    second.manager.setNames(['a.test']);
    t.ok(second.manager.contextFor('a.test'), 'the stored certificate serves at once');
    await second.manager.idle();
    t.notMatch(second.logs.join('\n'), /order started/);
    t.match(second.logs.join('\n'), /a\.test: stored certificate valid until/);
    t.same(second.metrics.acmeOrders, { issued: 0, renewed: 0, failed: 0 });
    await second.manager.close();

    // A renew window longer than the certificate's remaining life: renewed at start, and not again at once.
    const certBefore = readFileSync(join(dir, 'certs', 'a.test', 'cert.pem'), 'utf8');
    const third = startManager(t, pebble, dir, { renewDays: 100_000 });
    third.manager.setNames(['a.test']);
    await third.manager.idle();
    t.match(third.logs.join('\n'), /a\.test: order started \(renewal\)/);
    t.match(third.logs.join('\n'), /a\.test: certificate renewed/);
    t.same(third.metrics.acmeOrders, { issued: 0, renewed: 1, failed: 0 });
    t.not(
      readFileSync(join(dir, 'certs', 'a.test', 'cert.pem'), 'utf8'),
      certBefore,
      'a new certificate stored',
    );
    t.equal((third.logs.join('\n').match(/order started/g) ?? []).length, 1, 'one renewal, not a loop');
    const renewed = await handshake(
      await tlsServer(t, (name) => third.manager.contextFor(name)),
      'a.test',
      root,
    );
    t.equal(renewed.subjectaltname, 'DNS:a.test');
    await third.manager.close();

    // Not due at start, due a moment later: the timer renews it (no restart, no table change).
    const notAfterMs = (third.manager.notAfterFor('a.test') ?? 0) * 1000;
    const fourth = startManager(t, pebble, dir, { renewDays: (notAfterMs - Date.now() - 1500) / 86_400_000 });
    fourth.manager.setNames(['a.test']);
    await fourth.manager.idle();
    t.notMatch(fourth.logs.join('\n'), /order started/, 'not due at start');
    await waitFor(() => fourth.metrics.acmeOrders.renewed === 1, 30_000, 'the timer to renew');
    await fourth.manager.close();
  },
);

t.test(
  'a failing challenge is reported with the CA problem, retried with backoff, and the backoff survives a restart',
  async (t) => {
    const { port } = await startProxy(t, table({}));
    const pebble = await startPebble(t, { httpPort: port, tlsPort: await freePort() });
    // 127.0.0.2: nothing listens there, so Pebble's validation connection is refused.
    pebble.dns.set('b.test', '127.0.0.2');
    const dir = join(tempDir(t), 'acme');
    const first = startManager(t, pebble, dir, { retryMinMs: 60_000, retryMaxMs: 600_000 });
    first.manager.setNames(['b.test']);
    await first.manager.idle();
    const logged = first.logs.join('\n');
    t.match(
      logged,
      /b\.test: order failed \(1 in a row\): .*(connection refused|Connection refused).*; next retry at \d{4}-/,
    );
    t.same(first.metrics.acmeOrders, { issued: 0, renewed: 0, failed: 1 });
    const state = JSON.parse(readFileSync(join(dir, 'certs', 'b.test', 'state.json'), 'utf8'));
    t.equal(state.failures, 1);
    const delay = state.nextAttemptAt - Date.now();
    t.ok(delay > 30_000 && delay <= 75_000, `the first retry waits 60 s ±25% (${delay} ms)`);
    t.equal(statSync(join(dir, 'certs', 'b.test', 'state.json')).mode & 0o077, 0);
    await first.manager.close();

    // A restart respects the stored backoff: no order now.
    const second = startManager(t, pebble, dir, { retryMinMs: 60_000 });
    second.manager.setNames(['b.test']);
    await second.manager.idle();
    t.notMatch(second.logs.join('\n'), /order started/);
    await second.manager.close();

    // Short backoff: the second failure doubles it, then the name resolves to the proxy and the retry succeeds.
    const third = startManager(t, pebble, join(tempDir(t), 'acme'), { retryMinMs: 200, retryMaxMs: 400 });
    third.manager.setNames(['b.test']);
    await waitFor(() => third.metrics.acmeOrders.failed >= 2, 30_000, 'two failed orders');
    t.match(third.logs.join('\n'), /order failed \(2 in a row\)/);
    pebble.dns.set('b.test', '127.0.0.1');
    await waitFor(() => third.metrics.acmeOrders.issued === 1, 30_000, 'the retry to succeed');
    t.ok(third.manager.contextFor('b.test'));
  },
);

t.test('names removed from the table are not renewed; wildcards are refused', async (t) => {
  const { port } = await startProxy(t, table({}));
  const pebble = await startPebble(t, { httpPort: port, tlsPort: await freePort() });
  const started = startManager(t, pebble, join(tempDir(t), 'acme'), { retryMinMs: 60_000 });
  started.manager.setNames(['*.wild.test', 'gone.test']);
  await started.manager.idle();
  t.match(started.logs.join('\n'), /\*\.wild\.test: not a name a certificate can be ordered for/);
  t.equal((started.logs.join('\n').match(/order started/g) ?? []).length, 1, 'only gone.test was ordered');
  started.manager.setNames([]);
  t.match(started.logs.join('\n'), /gone\.test: no longer in the route table; not renewed any more/);
  t.equal(started.manager.contextFor('gone.test'), undefined);
});

t.test(
  'TLS-ALPN-01: issued with only the TLS port reachable; other clients never see the challenge certificate',
  async (t) => {
    const dir = join(tempDir(t), 'acme');
    const logs: string[] = [];
    const started: { manager: AcmeManager | null } = { manager: null };
    // The TLS server exists before the manager (Pebble needs its port); it asks the manager once there is one.
    const server = createServer({
      ALPNProtocols: ['http/1.1', 'acme-tls/1'],
      SNICallback(this: TLSSocket, name, cb) {
        const m = started.manager;
        const challenge = m !== null && offersOnlyAcmeTls(this) ? m.alpnContext(name) : undefined;
        const context = challenge ?? m?.contextFor(name);
        if (context === undefined) cb(new Error(`no certificate for ${name}`));
        else cb(null, context);
      },
    });
    peekWhilePending(server, () => started.manager?.alpnPending ?? false);
    server.on('secureConnection', (socket) => socket.end('hello\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => server.close());
    const tlsPort = (server.address() as { port: number }).port;

    // HTTP-01 would go to a port where nothing listens: only TLS-ALPN-01 can succeed.
    const pebble = await startPebble(t, { httpPort: await freePort(), tlsPort });
    pebble.dns.set('c.test', '127.0.0.1');
    const manager = new AcmeManager({
      dir,
      directoryUrl: pebble.directoryUrl,
      caFile: pebble.caFile,
      pollMs: 100,
      challenges: ['tls-alpn-01'],
      log: (line) => {
        logs.push(line);
        // While the challenge is pending, an ordinary client (no ALPN, or h2/http1.1) is not given the challenge
        // certificate: it gets no certificate at all here (none issued yet), never the self-signed one.
        if (/challenge ready: tls-alpn-01/.test(line)) void ordinaryClient();
      },
    });
    started.manager = manager;
    t.teardown(() => manager.close());
    const ordinary: string[] = [];
    const ordinaryClient = () =>
      new Promise<void>((resolve) => {
        const socket = connect({
          host: '127.0.0.1',
          port: tlsPort,
          servername: 'c.test',
          ALPNProtocols: ['h2', 'http/1.1'],
          rejectUnauthorized: false,
        });
        socket.on('secureConnect', () => {
          ordinary.push(`served ${socket.getPeerCertificate().subjectaltname}`);
          socket.destroy();
          resolve();
        });
        socket.on('error', (err) => {
          ordinary.push(`refused ${err.message}`);
          resolve();
        });
      });
    manager.setNames(['c.test']);
    await manager.idle();
    t.match(logs.join('\n'), /c\.test: challenge ready: tls-alpn-01/);
    t.match(logs.join('\n'), /c\.test: certificate issued/);
    await waitFor(() => ordinary.length === 1, 5000, 'the ordinary client');
    t.match(
      ordinary[0],
      /^refused/,
      'no challenge certificate for a client that offers more than acme-tls/1',
    );
    const served = await handshake(tlsPort, 'c.test', await pebble.issuingRoot(), ['http/1.1']);
    t.equal(served.subjectaltname, 'DNS:c.test');
    t.equal(served.text, 'hello\n');
  },
);
