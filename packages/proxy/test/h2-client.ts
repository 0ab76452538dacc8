/**
 * HTTP/2 test plumbing: a proxy with its TLS listener (ALPN h2 and http/1.1, a certificate from certs.ts), and a
 * small node:http2 client. Closed in the test's teardown.
 */
import { once } from 'node:events';
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect as h2connect,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import type { ProxyOptions } from '../src/index.js';
import { type Ca, certDir, type Leaf, makeCa, makeLeaf } from './certs.js';
import { type StartedProxy, startProxy, table } from './helpers.js';

/**
 * The HTTP/2 path a test file's fronts use: the proxy's own (h2-fast.ts, the default) or node:http2's (h2.ts,
 * `fastPath: false`), which h2-node-path.test.ts selects to run h2.test.ts again on it.
 */
export const H2_PATH_OPTIONS: ProxyOptions =
  process.env.NODIX_TEST_H2_PATH === 'node' ? { fastPath: false } : {};

export interface TlsFront extends StartedProxy {
  /** The proxy's TLS listener port. */
  tlsPort: number;
  ca: Ca;
  leaf: Leaf;
}

/**
 * A proxy with a TLS listener on 127.0.0.1:0 (HTTP/2 on unless `options.h2` says otherwise) for `hosts`: one
 * certificate for every name of `hosts` and `extraNames`, which is also the default certificate (so names
 * without a host still complete their handshake and get the unknown-host page).
 */
export async function startTlsFront(
  t: Test,
  hosts: Record<string, string | string[]>,
  options: ProxyOptions = {},
  extraNames: string[] = [],
): Promise<TlsFront> {
  const ca = makeCa(certDir(t));
  const leaf = makeLeaf(ca, { names: [...Object.keys(hosts), ...extraNames] });
  const tls = { cert: leaf.certFile, key: leaf.keyFile };
  const routes = table(
    Object.fromEntries(
      Object.entries(hosts).map(([name, origin]) => [name, { upstreams: [origin].flat(), tls }]),
    ),
    { defaultTls: tls },
  );
  const started = await startProxy(t, routes, { listenTls: '127.0.0.1:0', ...H2_PATH_OPTIONS, ...options });
  const tlsPort = (started.proxy.tls!.server.address() as AddressInfo).port;
  return { ...started, tlsPort, ca, leaf };
}

/** An HTTP/2 session to the front, for `servername`. */
export async function h2Session(t: Test, front: TlsFront, servername: string): Promise<ClientHttp2Session> {
  // Requests name their :authority themselves; the connection goes to the front whatever the name.
  const session = h2connect(`https://127.0.0.1:${front.tlsPort}`, { ca: front.ca.certPem, servername });
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  await once(session, 'connect');
  return session;
}

export interface H2Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request on `session`; `body` (a Buffer) is written and the stream ended. Rejects on a stream error. */
export function h2Request(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body?: Buffer,
): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const stream: ClientHttp2Stream = session.request(headers, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let response: IncomingHttpHeaders = {};
    stream.on('response', (h) => {
      response = h;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () =>
      resolve({ status: Number(response[':status']), headers: response, body: Buffer.concat(chunks) }),
    );
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}
