/**
 * The TLS listener with real clients (node:tls, curl, openssl s_client) and certificates made by openssl: the
 * certificate chosen per SNI name (exact, wildcard, default, none), the unrecognized_name alert, 421 for a Host
 * that is not the SNI name, X-Forwarded-Proto on every request path, and the handshake metrics.
 */
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { connect } from 'node:tls';
import t, { type Test } from 'tap';
import type { ProxyOptions } from '../../src/index.js';
import { certDir, type Leaf, makeCa, makeLeaf } from '../certs.js';
import { rawRequest, startProxy, startUpstream, table, waitFor } from '../helpers.js';
import { handshake, httpsGet, run, sClient } from './client.js';

async function setup(t: Test, withDefault: boolean, options: ProxyOptions = {}) {
  const dir = certDir(t);
  const ca = makeCa(dir);
  const a = makeLeaf(ca, { names: ['a.test'], keyType: 'ec' });
  const b = makeLeaf(ca, { names: ['b.test'], keyType: 'rsa' });
  const wild = makeLeaf(ca, { names: ['*.w.test'], keyType: 'rsa' });
  const fallback = makeLeaf(ca, { names: ['default.test'] });
  const upstream = await startUpstream(t);
  const files = (leaf: Leaf) => ({ cert: leaf.certFile, key: leaf.keyFile });
  const routes = table(
    {
      'a.test': { upstreams: [upstream.origin], tls: files(a) },
      'b.test': { upstreams: [upstream.origin], tls: files(b) },
      '*.w.test': { upstreams: [upstream.origin], tls: files(wild) },
      'plain.test': { upstreams: [upstream.origin] },
    },
    withDefault ? { defaultTls: files(fallback) } : {},
  );
  const started = await startProxy(t, routes, { listenTls: '127.0.0.1:0', ...options });
  const tlsPort = started.proxy.tls!.server.address() as { port: number };
  return { ...started, ca, upstream, tlsPort: tlsPort.port };
}

t.test('SNI picks the certificate: exact names (ECDSA and RSA), wildcard, longest match', async (t) => {
  const { tlsPort, ca } = await setup(t, false);
  const a = await handshake(tlsPort, { servername: 'a.test', ca: ca.certPem });
  t.equal(a.cert.subjectaltname, 'DNS:a.test');
  t.equal(a.cert.asn1Curve, 'prime256v1', 'ECDSA certificate');
  t.equal(a.protocol, 'TLSv1.3');
  const b = await handshake(tlsPort, { servername: 'B.Test', ca: ca.certPem });
  t.equal(b.cert.subjectaltname, 'DNS:b.test', 'SNI is matched case-insensitively');
  t.equal(b.cert.bits, 2048, 'RSA certificate');
  const w = await handshake(tlsPort, { servername: 'x.w.test', ca: ca.certPem });
  t.equal(w.cert.subjectaltname, 'DNS:*.w.test');
  const tls12 = await handshake(tlsPort, { servername: 'b.test', ca: ca.certPem, maxVersion: 'TLSv1.2' });
  t.equal(tls12.protocol, 'TLSv1.2', 'TLS 1.2 with an RSA certificate');
  const alpn = await handshake(tlsPort, {
    servername: 'a.test',
    ca: ca.certPem,
    ALPNProtocols: ['h2', 'http/1.1'],
  });
  t.equal(alpn.alpn, 'h2', 'h2 is offered (HTTP/2 is on by default; off: inbound/h2.test.ts)');
});

t.test('a name with no certificate and no defaultTls gets the unrecognized_name alert', async (t) => {
  const { tlsPort, ca, proxy } = await setup(t, false);
  await t.rejects(handshake(tlsPort, { servername: 'plain.test', ca: ca.certPem }), {
    code: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME',
  });
  await t.rejects(handshake(tlsPort, { servername: 'nowhere.test', ca: ca.certPem }), {
    code: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME',
  });
  const s = await sClient(tlsPort, 'nowhere.test');
  t.match(s.stdout + s.stderr, /unrecognized name[^\n]*SSL alert number 112/, 'openssl sees alert 112');
  const tls12 = await sClient(tlsPort, 'nowhere.test', ['-tls1_2']);
  t.match(tls12.stdout + tls12.stderr, /SSL alert number 112/, 'the same alert under TLS 1.2');
  // Without SNI and without a default certificate there is nothing to offer.
  await t.rejects(handshake(tlsPort, { ca: ca.certPem }));
  const metrics = await proxy.metrics.registry.metrics();
  t.match(metrics, /nodix_proxy_tls_handshake_failures_total\{reason="unknown_name"\} 5/);
});

t.test('defaultTls serves unknown names and handshakes without SNI', async (t) => {
  const { tlsPort, ca } = await setup(t, true);
  const unknown = await handshake(tlsPort, { servername: 'nowhere.test', ca: ca.certPem });
  t.equal(unknown.cert.subjectaltname, 'DNS:default.test');
  const noSni = await handshake(tlsPort, { ca: ca.certPem });
  t.equal(noSni.cert.subjectaltname, 'DNS:default.test');
  const known = await handshake(tlsPort, { servername: 'a.test', ca: ca.certPem });
  t.equal(known.cert.subjectaltname, 'DNS:a.test', 'a known name still gets its own');
  // node copies an SNI context's certificate next to the default one (one per key type), and OpenSSL then picks
  // by the client's preference: an RSA host beside an ECDSA default must still get its own only.
  const rsa = await handshake(tlsPort, { servername: 'b.test', ca: ca.certPem });
  t.equal(rsa.cert.subjectaltname, 'DNS:b.test', 'an RSA host beside an ECDSA default certificate');
  const rsa12 = await handshake(tlsPort, { servername: 'x.w.test', ca: ca.certPem, maxVersion: 'TLSv1.2' });
  t.equal(rsa12.cert.subjectaltname, 'DNS:*.w.test', 'the same under TLS 1.2');
  const s = await sClient(tlsPort, null);
  t.match(s.stdout, /subject=CN = default.test/, 'openssl without SNI gets the default certificate');
});

t.test('requests over TLS: X-Forwarded-Proto https on the fast path and the node:http path', async (t) => {
  const { tlsPort, ca, port } = await setup(t, false);
  const fast = await httpsGet(tlsPort, { servername: 'a.test', ca: ca.certPem, path: '/fast' });
  t.equal(fast.status, 200);
  const seen = JSON.parse(fast.body);
  t.equal(seen.url, '/fast');
  t.equal(seen.headers['x-forwarded-proto'], 'https');
  t.equal(seen.headers.host, 'a.test');
  // A chunked body is node:http's (the fast path hands the connection over, TLS socket and all).
  const chunked = await httpsGet(tlsPort, {
    servername: 'b.test',
    ca: ca.certPem,
    method: 'POST',
    path: '/chunked',
    headers: { 'transfer-encoding': 'chunked' },
    body: 'hello',
  });
  t.equal(chunked.status, 200);
  t.equal(JSON.parse(chunked.body).headers['x-forwarded-proto'], 'https', 'node:http path');
  // A client claiming https on the plain listener is not believed; the plain listener says http.
  const plain = await rawRequest(
    port,
    'GET / HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n',
  );
  t.match(plain, /"x-forwarded-proto":"http"/);
  const curl = await run('curl', [
    '-sS',
    '--resolve',
    `a.test:${tlsPort}:127.0.0.1`,
    '--cacert',
    ca.certFile,
    `https://a.test:${tlsPort}/curl`,
  ]);
  t.equal(curl.code, 0, curl.stderr);
  t.equal(JSON.parse(curl.stdout).headers['x-forwarded-proto'], 'https', 'curl verifies the chain and name');
});

t.test(
  'the same head bytes on connections with other SNI names or schemes are each read for their own',
  async (t) => {
    // The fast path reuses a head it parsed for connections whose peer reads it the same way (inbound/fast-path.ts
    // HeadMemo): the SNI name (421) and the scheme (X-Forwarded-Proto) are part of that.
    const { tlsPort, port, ca } = await setup(t, true);
    const head = 'GET /same HTTP/1.1\r\nHost: y.w.test\r\n\r\n';
    const exchange = async (servername: string | null): Promise<string> => {
      const socket =
        servername === null
          ? netConnect(port, '127.0.0.1')
          : connect({ port: tlsPort, host: '127.0.0.1', servername, ca: ca.certPem });
      socket.setEncoding('latin1');
      socket.on('error', () => {});
      await once(socket, servername === null ? 'connect' : 'secureConnect');
      let received = '';
      socket.on('data', (chunk: string) => {
        received += chunk;
      });
      const answers: string[] = [];
      for (let i = 0; i < 2; i++) {
        received = '';
        socket.write(head);
        await waitFor(() => {
          const end = received.indexOf('\r\n\r\n');
          const length = /\r\ncontent-length: (\d+)/i.exec(received);
          return end !== -1 && length !== null && received.length - end - 4 === Number(length[1]);
        });
        answers.push(received);
        if (/^HTTP\/1\.1 421/.test(received)) break;
      }
      socket.destroy();
      return answers.join('');
    };
    const proto = (response: string) => JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)).headers;
    const own = await exchange('y.w.test');
    t.match(own, /^HTTP\/1\.1 200 /, 'its own SNI name: routed');
    t.equal(proto(own.slice(own.lastIndexOf('HTTP/1.1 200')))['x-forwarded-proto'], 'https');
    t.match(
      await exchange('x.w.test'),
      /^HTTP\/1\.1 421 /,
      'another SNI name under the same certificate: 421',
    );
    const plain = await exchange(null);
    t.match(plain, /^HTTP\/1\.1 200 /);
    t.equal(
      proto(plain.slice(plain.lastIndexOf('HTTP/1.1 200')))['x-forwarded-proto'],
      'http',
      'plain: http',
    );
    t.match(await exchange('y.w.test'), /^HTTP\/1\.1 200 /, 'and its own name again');
  },
);

t.test('a Host that is not the SNI name gets 421, also under one wildcard certificate', async (t) => {
  const { tlsPort, ca, upstream } = await setup(t, true);
  const before = upstream.requests.length;
  const other = await httpsGet(tlsPort, { servername: 'a.test', host: 'b.test', ca: ca.certPem });
  t.equal(other.status, 421);
  t.match(other.body, /Misdirected Request/);
  t.equal(other.headers.connection, 'close');
  const wildcard = await httpsGet(tlsPort, { servername: 'x.w.test', host: 'y.w.test', ca: ca.certPem });
  t.equal(wildcard.status, 421, 'one certificate for both names does not make them one connection');
  const unknown = await httpsGet(tlsPort, { servername: 'nowhere.test', host: 'a.test', ca: ca.certPem });
  t.equal(unknown.status, 421, 'a handshake that got the default certificate routes its own name only');
  t.equal(upstream.requests.length, before, 'none reached the upstream');

  const same = await httpsGet(tlsPort, { servername: 'a.test', host: 'A.Test.:443', ca: ca.certPem });
  t.equal(same.status, 200, 'Host is compared normalised: case, port and trailing dot do not matter');
  const wildOk = await httpsGet(tlsPort, { servername: 'y.w.test', host: 'y.w.test', ca: ca.certPem });
  t.equal(wildOk.status, 200);
  // Without SNI (an IP address) the Host routes as on plain HTTP.
  const noSni = await run('curl', [
    '-sk',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    '-H',
    'Host: a.test',
    `https://127.0.0.1:${tlsPort}/`,
  ]);
  t.equal(noSni.stdout, '200');
});

t.test('handshake metrics by protocol', async (t) => {
  const { tlsPort, ca, proxy } = await setup(t, false);
  await handshake(tlsPort, { servername: 'a.test', ca: ca.certPem });
  await handshake(tlsPort, { servername: 'b.test', ca: ca.certPem, maxVersion: 'TLSv1.2' });
  // The client is done before the server has read its Finished: wait for the server's count.
  await waitFor(() => [...proxy.metrics.tls.handshakes.values()].reduce((a, b) => a + b, 0) === 2);
  const metrics = await proxy.metrics.registry.metrics();
  t.notMatch(metrics, /nodix_proxy_tls_handshake_failures_total\{/, 'no failures');
  t.match(metrics, /nodix_proxy_tls_handshakes_total\{protocol="TLSv1.3"\} 1/);
  t.match(metrics, /nodix_proxy_tls_handshakes_total\{protocol="TLSv1.2"\} 1/);
  t.match(metrics, /nodix_proxy_tls_certificate_not_after\{host="a.test"\} \d{10}/);
  t.match(metrics, /nodix_proxy_tls_certificate_not_after\{host="\*.w.test"\} \d{10}/);
});

t.test(
  'TLS 1.0 and 1.1 are refused (protocol_version), ciphers outside the intermediate list too',
  async (t) => {
    const { tlsPort, ca, proxy } = await setup(t, false);
    for (const version of ['-tls1', '-tls1_1']) {
      // SECLEVEL=0: the client itself would refuse the old versions otherwise.
      const s = await sClient(tlsPort, 'a.test', [version, '-cipher', 'DEFAULT@SECLEVEL=0']);
      t.match(s.stdout + s.stderr, /alert protocol version[^\n]*SSL alert number 70/, `${version} refused`);
    }
    await t.rejects(
      handshake(tlsPort, {
        servername: 'a.test',
        ca: ca.certPem,
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.1',
        ciphers: 'DEFAULT@SECLEVEL=0',
      }),
    );
    const cbc = await sClient(tlsPort, 'b.test', ['-tls1_2', '-cipher', 'AES128-SHA']);
    t.match(cbc.stdout + cbc.stderr, /SSL alert number 40/, 'a static-RSA CBC suite is not offered');
    const curl = await run('curl', [
      '-sS',
      '--tls-max',
      '1.1',
      '--resolve',
      `a.test:${tlsPort}:127.0.0.1`,
      '--cacert',
      ca.certFile,
      `https://a.test:${tlsPort}/`,
    ]);
    t.not(curl.code, 0, 'curl --tls-max 1.1 fails');
    await waitFor(() => (proxy.metrics.tls.failures.get('protocol_version') ?? 0) >= 3);
    await waitFor(() => (proxy.metrics.tls.failures.get('no_shared_cipher') ?? 0) >= 1);
    const metrics = await proxy.metrics.registry.metrics();
    t.match(metrics, /nodix_proxy_tls_handshake_failures_total\{reason="protocol_version"\} [3-9]/);
    t.match(metrics, /nodix_proxy_tls_handshake_failures_total\{reason="no_shared_cipher"\} 1/);
  },
);

/** Two handshakes, the second offering the first one's session: whether the server resumed it. */
async function resumed(port: number, ca: string, maxVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<boolean> {
  const session = await new Promise<Buffer>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'a.test', ca, maxVersion });
    socket.once('session', (s: Buffer) => {
      socket.end();
      resolve(s);
    });
    socket.once('error', reject);
    // TLS 1.3 tickets come after the handshake, with the first bytes read.
    socket.resume();
  });
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'a.test', ca, maxVersion, session });
    socket.once('secureConnect', () => {
      resolve(socket.isSessionReused());
      socket.end();
    });
    socket.once('error', reject);
  });
}

t.test('session resumption: on by default, off with tlsSessionResumption false', async (t) => {
  const on = await setup(t, false);
  t.equal(await resumed(on.tlsPort, on.ca.certPem, 'TLSv1.3'), true, 'TLS 1.3 resumes');
  t.equal(await resumed(on.tlsPort, on.ca.certPem, 'TLSv1.2'), true, 'TLS 1.2 resumes');
  const off = await setup(t, false, { tlsSessionResumption: false });
  t.equal(await resumed(off.tlsPort, off.ca.certPem, 'TLSv1.3'), false, 'TLS 1.3: a full handshake');
  t.equal(await resumed(off.tlsPort, off.ca.certPem, 'TLSv1.2'), false, 'TLS 1.2: a full handshake');
});

t.test('a WebSocket upgrade over TLS: X-Forwarded-Proto https, bytes flow both ways', async (t) => {
  const { tlsPort, ca, upstream } = await setup(t, false);
  const seen: string[] = [];
  upstream.server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    seen.push(String(req.headers['x-forwarded-proto']));
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  });
  const socket = connect({ host: '127.0.0.1', port: tlsPort, servername: 'a.test', ca: ca.certPem });
  t.teardown(() => socket.destroy());
  await once(socket, 'secureConnect');
  socket.write('GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString();
    if (received.includes('\r\n\r\n') && !received.includes('ping')) socket.write('ping');
  });
  await waitFor(() => received.includes('ping'), 5000, 'the echo');
  t.match(received, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  t.same(seen, ['https']);
});

t.test('close() ends handshakes in progress and upgraded TLS connections', async (t) => {
  const { tlsPort, ca, upstream, proxy } = await setup(t, false);
  upstream.server.on('upgrade', (_req: IncomingMessage, socket: Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    socket.on('error', () => {});
  });
  // A TCP connection that never sends a ClientHello: without close() ending it, close() would wait for its
  // handshake timeout (the header timeout, 20 s).
  const silent = netConnect(tlsPort, '127.0.0.1');
  silent.on('error', () => {});
  await once(silent, 'connect');
  const upgraded = connect({ host: '127.0.0.1', port: tlsPort, servername: 'a.test', ca: ca.certPem });
  upgraded.on('error', () => {});
  await once(upgraded, 'secureConnect');
  upgraded.write('GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  await once(upgraded, 'data');
  await waitFor(() => proxy.stats().upgrades === 1);
  const closedBoth = Promise.all([once(silent, 'close'), once(upgraded, 'close')]);
  await proxy.close({ timeoutMs: 0 });
  await closedBoth;
  t.equal(proxy.tls!.server.listening, false);
});

t.test(
  'plain HTTP sent to the TLS port gets a 400 that says so (as nginx), in one write or byte by byte',
  async (t) => {
    const { tlsPort, proxy, ca } = await setup(t, true);
    const send = (parts: string[]) =>
      new Promise<string>((resolve, reject) => {
        const socket: Socket = netConnect(tlsPort, '127.0.0.1', async () => {
          for (const part of parts) {
            socket.write(part);
            await new Promise((r) => setTimeout(r, 5));
          }
        });
        let answer = '';
        socket.setEncoding('latin1');
        socket.on('data', (d: string) => {
          answer += d;
        });
        socket.on('close', () => resolve(answer));
        socket.on('error', reject);
      });
    const request = 'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n';
    for (const parts of [[request], [...request]]) {
      const answer = await send(parts);
      t.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
      t.match(answer, /connection: close/);
      t.match(answer, /This port speaks HTTPS/);
    }
    const metrics = await proxy.metrics.registry.metrics();
    t.match(metrics, /nodix_proxy_tls_handshake_failures_total\{reason="plain_http"\} 2/);
    const after = await httpsGet(tlsPort, { servername: 'a.test', ca: ca.certPem, path: '/' });
    t.equal(after.status, 200, 'TLS is still served');
  },
);
