/**
 * TLS clients for the proxy's TLS tests: a bare handshake (which certificate, which protocol, or which alert)
 * and an HTTPS request with a chosen SNI name and Host header, over node:tls, plus curl and openssl s_client.
 */
import { execFile } from 'node:child_process';
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type PeerCertificate } from 'node:tls';

export interface Handshake {
  /** The leaf certificate the server sent. */
  cert: PeerCertificate;
  protocol: string | null;
  alpn: string | false | null;
}

export interface HandshakeOptions {
  /** SNI name; omitted (no SNI) when undefined. */
  servername?: string;
  ca: string;
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  ALPNProtocols?: string[];
  ciphers?: string;
  /** Verify the chain against `ca` (default true); false to look at an expired certificate. */
  verify?: boolean;
}

/** Handshakes with 127.0.0.1:`port` and closes; rejects with the TLS error (its `code` names an alert). */
export function handshake(port: number, options: HandshakeOptions): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      // node sends no SNI for an IP address; '' is "none" too.
      servername: options.servername ?? '',
      ca: options.ca,
      // Identity is checked by the tests (which certificate came), not by the client.
      checkServerIdentity: () => undefined,
      minVersion: options.minVersion,
      maxVersion: options.maxVersion,
      ALPNProtocols: options.ALPNProtocols,
      ciphers: options.ciphers,
      rejectUnauthorized: options.verify ?? true,
    });
    socket.once('secureConnect', () => {
      const result = {
        cert: socket.getPeerCertificate(),
        protocol: socket.getProtocol(),
        alpn: socket.alpnProtocol,
      };
      // A graceful end: the server reads the client's Finished before the FIN (a reset could come first).
      socket.end();
      resolve(result);
    });
    socket.once('error', (err) => {
      socket.destroy();
      reject(err);
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('handshake timed out')));
  });
}

export interface HttpsReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpsOptions {
  servername: string;
  /** Host header; default the SNI name. */
  host?: string;
  path?: string;
  method?: string;
  ca: string;
  headers?: Record<string, string>;
  body?: string;
}

/** One HTTPS request on a new connection (no agent), SNI and Host as given. */
export function httpsGet(port: number, options: HttpsOptions): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        servername: options.servername,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        ca: options.ca,
        agent: false,
        headers: { host: options.host ?? options.servername, ...options.headers },
        checkServerIdentity: () => undefined,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('request timed out')));
    req.end(options.body);
  });
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command (curl, openssl), never throwing for a non-zero exit. */
export function run(command: string, args: string[], input = ''): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { timeout: 10_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(input);
  });
}

/** `openssl s_client` to 127.0.0.1:`port` with `servername` (none: `-noservername`), as the stdout and stderr. */
export function sClient(
  port: number,
  servername: string | null,
  extra: string[] = [],
): Promise<CommandResult> {
  return run('openssl', [
    's_client',
    '-connect',
    `127.0.0.1:${port}`,
    ...(servername === null ? ['-noservername'] : ['-servername', servername]),
    ...extra,
  ]);
}
