/**
 * Certificates change with the route table: a reload (or a changed certificate file) gives new handshakes the new
 * certificate while open connections carry on; a bad certificate or key keeps the last good table and says which
 * file and why; expired, not yet valid and world-readable are warnings. And a reload under load: new TLS
 * connections and requests during reloads that swap the certificate, none failing.
 */
import { X509Certificate } from 'node:crypto';
import { chmodSync, copyFileSync, renameSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import t, { type Test } from 'tap';
import { RouteTableError } from '../../src/errors.js';
import { certDir, type Leaf, makeCa, makeLeaf } from '../certs.js';
import { startProxy, startUpstream, table, waitFor } from '../helpers.js';
import { handshake, httpsGet } from './client.js';

/** Copies a leaf's files to `a.crt`/`a.key` in `dir` (renamed into place, as certbot and editors do). */
function install(dir: string, leaf: Leaf, name = 'a'): void {
  for (const [from, to] of [
    [leaf.certFile, `${name}.crt`],
    [leaf.keyFile, `${name}.key`],
  ] as const) {
    const tmp = join(dir, `.${to}.tmp`);
    copyFileSync(from, tmp);
    chmodSync(tmp, 0o600);
    renameSync(tmp, join(dir, to));
  }
}

function writeRoutes(dir: string, origin: string, tls: { cert: string; key: string } | null, more = {}) {
  const file = join(dir, 'routes.json');
  const tmp = `${file}.tmp`;
  writeFileSync(
    tmp,
    JSON.stringify(table({ 'a.test': { upstreams: [origin], ...(tls === null ? {} : { tls }) }, ...more })),
  );
  renameSync(tmp, file);
  return file;
}

async function setup(t: Test, watch: boolean) {
  const dir = certDir(t);
  const ca = makeCa(dir);
  const first = makeLeaf(ca, { names: ['a.test'] });
  const second = makeLeaf(ca, { names: ['a.test'], keyType: 'rsa' });
  install(dir, first);
  const upstream = await startUpstream(t);
  // Relative paths: resolved against the routes file's directory.
  const routes = writeRoutes(dir, upstream.origin, { cert: 'a.crt', key: 'a.key' });
  const started = await startProxy(t, null, { routes, watch, listenTls: '127.0.0.1:0' });
  const tlsPort = (started.proxy.tls!.server.address() as { port: number }).port;
  const serial = async (verify = true) =>
    (await handshake(tlsPort, { servername: 'a.test', ca: ca.certPem, verify })).cert.serialNumber;
  return { ...started, dir, ca, first, second, upstream, routes, tlsPort, serial };
}

t.test('a reload swaps the certificate for new handshakes; open connections carry on', async (t) => {
  const { proxy, dir, ca, first, second, tlsPort, serial } = await setup(t, false);
  t.equal(await serial(), x509Serial(first));
  // A keep-alive connection opened before the reload.
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.certPem, servername: 'a.test' });
  t.teardown(() => agent.destroy());
  const before = await agentGet(tlsPort, agent);
  install(dir, second);
  await proxy.reload();
  t.equal(await serial(), x509Serial(second), 'new handshakes get the new certificate');
  const after = await agentGet(tlsPort, agent);
  t.equal(after.localPort, before.localPort, 'the open connection was reused');
  t.equal(after.serial, x509Serial(first), 'and still speaks with the certificate it was opened with');
});

t.test('a changed certificate file is picked up by the watch (certbot-style renewal)', async (t) => {
  const { dir, first, second, serial, logs } = await setup(t, true);
  t.equal(await serial(), x509Serial(first));
  install(dir, second);
  await waitFor(async () => (await serial()) === x509Serial(second), 10_000, 'the renewed certificate');
  t.match(logs.join('\n'), /a\.(crt|key) changed: reloading the route table/);
});

t.test(
  'bad certificate and key files keep the last good table, naming the file and the reason',
  async (t) => {
    const { proxy, dir, ca, first, upstream, serial, logs } = await setup(t, false);
    const other = makeLeaf(ca, { names: ['a.test'] });
    writeFileSync(join(dir, 'not-pem.crt'), 'hello\n');
    writeFileSync(
      join(dir, 'broken.crt'),
      '-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n',
    );
    const cases: [{ cert: string; key: string }, string, RegExp][] = [
      [{ cert: 'a.crt', key: 'missing.key' }, 'missing.key', /cannot read the key \(ENOENT\)/],
      [{ cert: 'missing.crt', key: 'a.key' }, 'missing.crt', /cannot read the certificate \(ENOENT\)/],
      [{ cert: 'not-pem.crt', key: 'a.key' }, 'not-pem.crt', /not a PEM certificate/],
      [{ cert: 'broken.crt', key: 'a.key' }, 'broken.crt', /not a valid certificate/],
      [{ cert: 'a.crt', key: 'a.crt' }, 'a.crt', /not a PEM private key/],
      [
        { cert: 'a.crt', key: other.keyFile },
        other.keyFile,
        /the key does not match the certificate .*a\.crt/,
      ],
    ];
    for (const [tls, file, reason] of cases) {
      writeRoutes(dir, upstream.origin, tls);
      const err = await proxy.reload().catch((e: unknown) => e);
      t.type(err, RouteTableError, `${file}: refused`);
      const e = err as RouteTableError;
      t.equal(e.file, file.startsWith('/') ? file : join(dir, file), 'names the file');
      t.match(e.key, /^hosts\["a\.test"\]\.tls\.(cert|key)$/, 'and the route-table key');
      t.match(e.reason, reason);
      t.match(logs.at(-1), /route table rejected, the last good one keeps serving/);
      t.equal(await serial(), x509Serial(first), 'the last good certificate keeps serving');
    }
    const metrics = await proxy.metrics.registry.metrics();
    t.match(metrics, /nodix_proxy_config_reloads_total\{result="failure"\} 6/);
  },
);

t.test(
  'expired, not yet valid, not naming the host, world-readable key: served, with a warning',
  async (t) => {
    const { proxy, dir, ca, upstream, serial, logs } = await setup(t, false);
    const expired = makeLeaf(ca, { names: ['a.test'], validity: 'expired' });
    install(dir, expired);
    await proxy.reload();
    t.equal(await serial(false), x509Serial(expired), 'an expired certificate is served (as nginx does)');
    t.match(logs.join('\n'), /WARNING: certificate .*a\.crt \(hosts\["a\.test"\]\.tls\) EXPIRED on/);
    const notAfter = Number(
      /nodix_proxy_tls_certificate_not_after\{host="a\.test"\} (\d+)/.exec(
        await proxy.metrics.registry.metrics(),
      )?.[1],
    );
    t.ok(notAfter < Date.now() / 1000, 'the expiry metric shows it');

    const future = makeLeaf(ca, { names: ['a.test'], validity: 'not-yet-valid' });
    install(dir, future);
    await proxy.reload();
    t.match(logs.join('\n'), /WARNING: certificate .*a\.crt .* is not valid before/);

    const wrongName = makeLeaf(ca, { names: ['b.test'] });
    install(dir, wrongName);
    await proxy.reload();
    t.match(logs.join('\n'), /WARNING: certificate .*a\.crt .* does not name a\.test/);

    install(dir, makeLeaf(ca, { names: ['a.test'] }));
    chmodSync(join(dir, 'a.key'), 0o644);
    await proxy.reload();
    t.match(logs.at(-2) ?? '', /WARNING: key .*a\.key is readable by every user \(mode 644\): chmod 600 it/);
    chmodSync(join(dir, 'a.key'), 0o600);
    const count = logs.length;
    await proxy.reload();
    t.notMatch(logs.slice(count).join('\n'), /WARNING/, 'mode 600 and a valid certificate: no warning');

    // A host removed by a reload takes its expiry series with it.
    writeRoutes(dir, upstream.origin, null);
    await proxy.reload();
    t.notMatch(await proxy.metrics.registry.metrics(), /not_after\{host="a\.test"\}/);
  },
);

t.test(
  'reload under load: new TLS connections and requests during reloads that swap the certificate',
  async (t) => {
    const { proxy, dir, ca, first, second, tlsPort, serial } = await setup(t, false);
    const reloads = 6;
    let stop = false;
    let requests = 0;
    const failures: string[] = [];
    const seen = new Set<string>();
    // Four clients, each a loop of new connections (handshake + request), bounded in count.
    const client = async () => {
      for (let i = 0; i < 400 && !stop; i++) {
        try {
          const reply = await httpsGet(tlsPort, { servername: 'a.test', ca: ca.certPem, path: `/load/${i}` });
          if (reply.status !== 200) failures.push(`status ${reply.status}`);
          requests++;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    const clients = [client(), client(), client(), client()];
    for (let i = 0; i < reloads; i++) {
      const next = i % 2 === 0 ? second : first;
      install(dir, next);
      await proxy.reload();
      const now = await serial();
      seen.add(now);
      t.equal(now, x509Serial(next), `after reload ${i + 1} new handshakes see the new certificate`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    stop = true;
    await Promise.all(clients);
    t.same(failures, [], '0 failed handshakes, 0 failed requests');
    t.ok(requests > reloads, `${requests} requests during ${reloads} reloads`);
    t.equal(seen.size, 2);
    const metrics = await proxy.metrics.registry.metrics();
    t.notMatch(
      metrics,
      /nodix_proxy_tls_handshake_failures_total\{/,
      'the proxy counted no failed handshake',
    );
  },
);

function x509Serial(leaf: Leaf): string {
  return new X509Certificate(leaf.certPem).serialNumber;
}

/** A GET over `agent` (keep-alive): the local port of its socket and the certificate it speaks with. */
function agentGet(port: number, agent: Agent): Promise<{ localPort: number; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, agent, headers: { host: 'a.test' }, servername: 'a.test' },
      (res) => {
        const socket = res.socket as TLSSocket;
        const result = { localPort: socket.localPort ?? 0, serial: socket.getPeerCertificate().serialNumber };
        res.resume();
        res.on('end', () => resolve(result));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
