/**
 * Pebble (Let's Encrypt's ACME test server, Debian package `pebble`) for the ACME tests: started per test with
 * its own configuration on free 127.0.0.1 ports, its own HTTPS certificate (openssl, self-signed: the tests
 * trust it with `--acme-ca`), and a tiny DNS responder the test controls (`-dnsserver`), so the test's host
 * names resolve to the proxy and nothing reaches a real CA or resolver. Validation is real: no
 * PEBBLE_VA_ALWAYS_VALID.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import type { Test } from 'tap';
import { tempDir, waitFor } from '../helpers.js';

export interface Pebble {
  directoryUrl: string;
  /** PEM of the CA Pebble's own HTTPS is signed by (the `--acme-ca` file). */
  caFile: string;
  /** Host name → IPv4 address the DNS responder answers; names not here get no A record. */
  dns: Map<string, string>;
  /** Pebble's output lines. */
  logs: string[];
  /** The root Pebble issues certificates under (its management endpoint). */
  issuingRoot(): Promise<string>;
}

/** A free TCP port on 127.0.0.1 (bound and released: Pebble binds it right after). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Answers A queries from `names`, everything else with an empty NOERROR (RFC 1035 §4.1). */
async function startDns(t: Test, names: Map<string, string>): Promise<number> {
  const socket = createSocket('udp4');
  socket.on('message', (query, peer) => {
    if (query.length < 12) return;
    let pos = 12;
    const labels: string[] = [];
    while (pos < query.length && query[pos] !== 0) {
      labels.push(query.subarray(pos + 1, pos + 1 + query[pos]!).toString('latin1'));
      pos += 1 + query[pos]!;
    }
    const qtype = query.readUInt16BE(pos + 1);
    const questionEnd = pos + 5;
    const address = qtype === 1 ? names.get(labels.join('.').toLowerCase()) : undefined;
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    header.writeUInt16BE(0x8180, 2); // response, recursion desired + available, NOERROR
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(address === undefined ? 0 : 1, 6);
    const parts = [header, query.subarray(12, questionEnd)];
    if (address !== undefined) {
      const answer = Buffer.alloc(16);
      answer.writeUInt16BE(0xc00c, 0); // the question's name
      answer.writeUInt16BE(1, 2); // A
      answer.writeUInt16BE(1, 4); // IN
      answer.writeUInt32BE(0, 6); // TTL 0: every lookup asks again
      answer.writeUInt16BE(4, 10);
      const octets = address.split('.');
      for (let i = 0; i < 4; i++) answer.writeUInt8(Number(octets[i]), 12 + i);
      parts.push(answer);
    }
    socket.send(Buffer.concat(parts), peer.port, peer.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  t.teardown(() => socket.close());
  return socket.address().port;
}

/** Starts Pebble validating HTTP-01 on `httpPort` and TLS-ALPN-01 on `tlsPort` (127.0.0.1 via the DNS responder). */
export async function startPebble(t: Test, ports: { httpPort: number; tlsPort: number }): Promise<Pebble> {
  const dir = tempDir(t);
  const certFile = join(dir, 'pebble-cert.pem');
  const keyFile = join(dir, 'pebble-key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=pebble test',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  const dns = new Map<string, string>();
  const dnsPort = await startDns(t, dns);
  const listen = await freePort();
  const management = await freePort();
  const config = join(dir, 'pebble.json');
  writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${listen}`,
        managementListenAddress: `127.0.0.1:${management}`,
        certificate: certFile,
        privateKey: keyFile,
        httpPort: ports.httpPort,
        tlsPort: ports.tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  const logs: string[] = [];
  const child = spawn(
    '/usr/bin/pebble',
    ['-config', config, '-dnsserver', `127.0.0.1:${dnsPort}`, '-strict=false'],
    {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const collect = (chunk: Buffer) =>
    logs.push(
      ...chunk
        .toString()
        .split('\n')
        .filter((l) => l !== ''),
    );
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGTERM');
  });
  const ca = `${execFileSync('cat', [certFile])}`;
  const get = (port: number, path: string) =>
    new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, ca, servername: 'localhost' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () =>
          res.statusCode === 200 ? resolve(body) : reject(new Error(`${path}: ${res.statusCode}`)),
        );
      });
      req.on('error', reject);
      req.end();
    });
  await waitFor(
    () =>
      get(listen, '/dir').then(
        () => true,
        () => child.exitCode !== null && Promise.reject(new Error(`pebble exited: ${logs.join('\n')}`)),
      ),
    15_000,
    'pebble to listen',
  );
  return {
    directoryUrl: `https://127.0.0.1:${listen}/dir`,
    caFile: certFile,
    dns,
    logs,
    issuingRoot: () => get(management, '/roots/0'),
  };
}
