/**
 * The hook an ACME manager plugs into (tls/certificates.ts AcmeCertificates): `"tls": "acme"` hosts get their
 * certificate from it at handshake time, undefined until issued (then the default certificate or
 * unrecognized_name); it learns the names to obtain; without a manager the proxy says so once. The manager here
 * is the smallest real implementation of the interface: a Map of SecureContexts made from openssl certificates.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import t from 'tap';
import type { AcmeCertificates } from '../../src/index.js';
import { certDir, makeCa, makeLeaf } from '../certs.js';
import { startProxy, startUpstream, table } from '../helpers.js';
import { handshake } from './client.js';

t.test('without an ACME manager: said once, and "acme" hosts have no certificate', async (t) => {
  const upstream = await startUpstream(t);
  const routes = table({ 'acme.test': { upstreams: [upstream.origin], tls: 'acme' } });
  const { proxy, logs } = await startProxy(t, routes, { listenTls: '127.0.0.1:0' });
  const port = (proxy.tls!.server.address() as { port: number }).port;
  const ca = makeCa(certDir(t));
  await t.rejects(handshake(port, { servername: 'acme.test', ca: ca.certPem }), {
    code: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME',
  });
  proxy.setRouteTable(routes);
  const said = logs.filter((line) =>
    /acme\.test ask for ACME certificates but no ACME manager runs/.test(line),
  );
  t.equal(said.length, 1, 'once, not on every reload');
  t.match(said[0], /they get the unrecognized_name alert/);
});

t.test(
  'with a manager: the default certificate until issued, then the issued one, names and expiry',
  async (t) => {
    const dir = certDir(t);
    const ca = makeCa(dir);
    const fallback = makeLeaf(ca, { names: ['default.test'] });
    const issued = makeLeaf(ca, { names: ['acme.test'], keyType: 'rsa' });
    const contexts = new Map<string, SecureContext>();
    const names: string[][] = [];
    const manager: AcmeCertificates = {
      contextFor: (name) => contexts.get(name),
      notAfterFor: (name) =>
        contexts.has(name) ? Date.parse(new X509Certificate(issued.certPem).validTo) / 1000 : undefined,
      setNames: (list) => names.push([...list]),
    };
    const upstream = await startUpstream(t);
    const { proxy, logs } = await startProxy(
      t,
      table(
        {
          'acme.test': { upstreams: [upstream.origin], tls: 'acme' },
          'plain.test': { upstreams: [upstream.origin] },
        },
        { defaultTls: { cert: fallback.certFile, key: fallback.keyFile } },
      ),
      { listenTls: '127.0.0.1:0', acme: manager },
    );
    const port = (proxy.tls!.server.address() as { port: number }).port;
    t.same(names, [['acme.test']], 'the manager learns which names to obtain');
    t.notMatch(logs.join('\n'), /no ACME manager/);
    const before = await handshake(port, { servername: 'acme.test', ca: ca.certPem });
    t.equal(before.cert.subjectaltname, 'DNS:default.test', 'not issued yet: the default certificate');

    contexts.set('acme.test', createSecureContext({ cert: issued.certPem, key: issued.keyPem }));
    proxy.tls!.onIssued();
    const after = await handshake(port, { servername: 'acme.test', ca: ca.certPem });
    t.equal(after.cert.subjectaltname, 'DNS:acme.test', 'issued: new handshakes get it, no reload needed');
    t.match(
      await proxy.metrics.registry.metrics(),
      /nodix_proxy_tls_certificate_not_after\{host="acme\.test"\} \d+/,
    );

    proxy.setRouteTable(table({ 'plain.test': { upstreams: [upstream.origin] } }));
    t.same(names.at(-1), [], 'a reload that drops the host tells the manager');
  },
);
