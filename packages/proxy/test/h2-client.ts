/**
 * HTTP/2 test plumbing: a TLS front (node:tls, ALPN h2 and http/1.1, a certificate from certs.ts) that hands h2
 * sockets to the proxy's HTTP/2 handler, and a small node:http2 client. Closed in the test's teardown.
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
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Test } from 'tap';
import type { NodixProxy } from '../src/index.js';
import { type Ca, certDir, type Leaf, makeCa, makeLeaf } from './certs.js';

export interface TlsFront {
  port: number;
  ca: Ca;
  leaf: Leaf;
}

/** A TLS listener on 127.0.0.1:0 for `names` whose h2 connections go to `proxy.h2`. */
export async function startTlsFront(t: Test, proxy: NodixProxy, names: string[]): Promise<TlsFront> {
  const ca = makeCa(certDir(t));
  const leaf = makeLeaf(ca, { names });
  const sockets = new Set<TLSSocket>();
  const server = createTlsServer(
    { cert: leaf.certPem, key: leaf.keyPem, ALPNProtocols: ['h2', 'http/1.1'] },
    (socket: TLSSocket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      if (socket.alpnProtocol === 'h2' && proxy.h2 !== null) proxy.h2.handle(socket);
      else socket.destroy();
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, ca, leaf };
}

/** An HTTP/2 session to the front, for `servername`. */
export async function h2Session(t: Test, front: TlsFront, servername: string): Promise<ClientHttp2Session> {
  // Requests name their :authority themselves; the connection goes to the front whatever the name.
  const session = h2connect(`https://127.0.0.1:${front.port}`, { ca: front.ca.certPem, servername });
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
