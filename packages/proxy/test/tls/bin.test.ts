/**
 * The built `nodix-proxy` bin with TLS: --listen-tls and its ready line, SIGHUP picking up replaced certificate
 * files, a bad key at start and under --check as one line naming the file, warnings on --check.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { certDir, type Leaf, makeCa, makeLeaf } from '../certs.js';
import { run } from '../child.js';
import { sleep, startUpstream, table, waitFor } from '../helpers.js';
import { handshake, httpsGet } from './client.js';

function routesWith(dir: string, origin: string): string {
  const file = join(dir, 'routes.json');
  writeFileSync(
    file,
    JSON.stringify(table({ 'a.test': { upstreams: [origin], tls: { cert: 'a.crt', key: 'a.key' } } })),
  );
  return file;
}

/**
 * The bin with `--listen 127.0.0.1:0 --listen-tls 127.0.0.1:0 --routes ROUTES --watch false` and `extra`, once it
 * printed its ready line: the TLS port and the admin port (0 with `--admin-listen off`).
 */
async function startTlsBin(t: Test, routes: string, extra: string[]) {
  const proxy = run(t, [
    '--listen',
    '127.0.0.1:0',
    '--listen-tls',
    '127.0.0.1:0',
    '--routes',
    routes,
    '--watch',
    'false',
    ...extra,
  ]);
  const line =
    /^nodix-proxy listening on 127\.0\.0\.1:\d+ \(admin (?:off|127\.0\.0\.1:(\d+))\), TLS on 127\.0\.0\.1:(\d+)\n$/;
  await waitFor(() => line.test(proxy.stdout()), 20_000, 'the ready line');
  const m = line.exec(proxy.stdout())!;
  return { proxy, adminPort: Number(m[1] ?? 0), tlsPort: Number(m[2]) };
}

function place(dir: string, leaf: Leaf): void {
  copyFileSync(leaf.certFile, join(dir, 'a.crt'));
  copyFileSync(leaf.keyFile, join(dir, 'a.key'));
}

t.test(
  '--listen-tls: the ready line names the TLS address; SIGHUP re-reads the certificate files',
  async (t) => {
    const dir = certDir(t);
    const ca = makeCa(dir);
    const first = makeLeaf(ca, { names: ['a.test'] });
    const second = makeLeaf(ca, { names: ['a.test'], keyType: 'rsa' });
    place(dir, first);
    const upstream = await startUpstream(t);
    const routes = routesWith(dir, upstream.origin);
    const { proxy, tlsPort } = await startTlsBin(t, routes, ['--admin-listen', 'off']);
    const reply = await httpsGet(tlsPort, { servername: 'a.test', ca: ca.certPem });
    t.equal(reply.status, 200);
    t.equal(JSON.parse(reply.body).headers['x-forwarded-proto'], 'https');
    const before = await handshake(tlsPort, { servername: 'a.test', ca: ca.certPem });
    t.equal(before.cert.asn1Curve, 'prime256v1');

    place(dir, second);
    await sleep(200);
    t.equal(
      (await handshake(tlsPort, { servername: 'a.test', ca: ca.certPem })).cert.asn1Curve,
      'prime256v1',
      'nothing watched (--watch false): still the first certificate',
    );
    proxy.child.kill('SIGHUP');
    await waitFor(
      async () => (await handshake(tlsPort, { servername: 'a.test', ca: ca.certPem })).cert.bits === 2048,
      10_000,
      'the RSA certificate after SIGHUP',
    );
    t.pass('SIGHUP: new handshakes get the replaced certificate');
    proxy.child.kill('SIGTERM');
    t.equal(await proxy.exit, 0);
  },
);

t.test('a bad key: one line naming the file at start (exit 2) and under --check', async (t) => {
  const dir = certDir(t);
  const ca = makeCa(dir);
  const good = makeLeaf(ca, { names: ['a.test'] });
  const other = makeLeaf(ca, { names: ['a.test'] });
  copyFileSync(good.certFile, join(dir, 'a.crt'));
  copyFileSync(other.keyFile, join(dir, 'a.key'));
  const routes = routesWith(dir, 'http://127.0.0.1:9');
  const expected = `nodix-proxy: ${join(dir, 'a.key')}: hosts["a.test"].tls.key: the key does not match the certificate ${join(dir, 'a.crt')}\n`;

  const start = run(t, [
    '--listen',
    '127.0.0.1:0',
    '--admin-listen',
    'off',
    '--listen-tls',
    '127.0.0.1:0',
    '--routes',
    routes,
  ]);
  t.equal(await start.exit, 2);
  t.equal(start.stderr(), expected, 'one line, no stack trace');

  const check = run(t, ['--check', '--routes', routes]);
  t.equal(await check.exit, 2);
  t.equal(check.stderr(), expected, '--check reads the certificates too');

  copyFileSync(good.keyFile, join(dir, 'a.key'));
  const ok = run(t, ['--check', '--routes', routes, '--listen-tls', '127.0.0.1:8443']);
  t.equal(await ok.exit, 0, ok.stderr());
  t.match(
    ok.stdout(),
    /configuration OK: routes .*: 1 host, 1 upstream, 1 certificate; .* TLS 127\.0\.0\.1:8443, /,
  );
  t.equal(ok.stderr(), '');

  const expired = makeLeaf(ca, { names: ['a.test'], validity: 'expired' });
  copyFileSync(expired.certFile, join(dir, 'a.crt'));
  copyFileSync(expired.keyFile, join(dir, 'a.key'));
  const warned = run(t, ['--check', '--routes', routes]);
  t.equal(await warned.exit, 0, 'an expired certificate is a warning');
  t.match(
    warned.stderr(),
    /^nodix-proxy: WARNING: certificate .*a\.crt \(hosts\["a\.test"\]\.tls\) EXPIRED on /,
  );
});

t.test('--help documents the TLS settings', async (t) => {
  const help = run(t, ['--help']);
  t.equal(await help.exit, 0);
  t.match(help.stdout(), /--listen-tls VALUE +TLS \(HTTPS\) listener/);
  t.match(help.stdout(), /env NODIX_PROXY_LISTEN_TLS/);
  t.match(help.stdout(), /--tls-session-resumption VALUE/);
});

t.test(
  '--workers 2 with --listen-tls: relative certificate paths, the bound TLS port, a bad key refused once',
  async (t) => {
    const dir = certDir(t);
    const ca = makeCa(dir);
    const first = makeLeaf(ca, { names: ['a.test'] });
    place(dir, first);
    const upstream = await startUpstream(t);
    const routes = routesWith(dir, upstream.origin);
    const { proxy, tlsPort, adminPort } = await startTlsBin(t, routes, [
      '--workers',
      '2',
      '--admin-listen',
      '127.0.0.1:0',
    ]);
    t.not(tlsPort, 0, 'the port the workers bound, not 0');
    for (let i = 0; i < 4; i++) {
      const reply = await httpsGet(tlsPort, { servername: 'a.test', ca: ca.certPem });
      t.equal(reply.status, 200);
    }
    // A key that does not match: the primary refuses the table before any worker gets it.
    const other = makeLeaf(ca, { names: ['a.test'] });
    copyFileSync(other.keyFile, join(dir, 'a.key'));
    const res = await fetch(`http://127.0.0.1:${adminPort}/reload`, {
      method: 'POST',
      headers: { 'x-nodix-admin': '1' },
    });
    t.equal(res.status, 422);
    t.match(
      ((await res.json()) as { error: string }).error,
      /a\.key: hosts\["a\.test"\]\.tls\.key: the key does not match the certificate/,
    );
    t.equal((await httpsGet(tlsPort, { servername: 'a.test', ca: ca.certPem })).status, 200, 'still serving');
    proxy.child.kill('SIGTERM');
    t.equal(await proxy.exit, 0);
  },
);
