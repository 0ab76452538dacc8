/**
 * The TLS listener (`--listen-tls`): a node:tls server whose handshakes pick their certificate by SNI from the
 * route table's CertificateStore (certificates.ts), and whose HTTP/1.1 connections, once the handshake is done,
 * go to the same traffic server as plain ones (inbound/server.ts: the fast path, node:http for the rest). The
 * request paths see a TLSSocket and read `encrypted`/`servername` off it once per connection (http/headers.ts
 * `peerOf`): X-Forwarded-Proto `https`, 421 for a Host that is not the SNI name, HSTS.
 *
 * TLS 1.2 and 1.3 only, Mozilla's intermediate ciphers (certificates.ts TLS_SETTINGS), ECDSA and RSA keys. A name
 * with no certificate and no `defaultTls` is refused with the `unrecognized_name` alert (RFC 6066 §3). Node's
 * SNICallback has no way to send an alert (an error just closes the socket), so the listener writes the alert
 * record itself on the TCP socket under the TLS one: the ClientHello was read, nothing was written yet, and an
 * alert before the handshake is a plaintext record. A handshake without SNI uses the default certificate; with
 * none it fails inside OpenSSL (`handshake_failure`: nothing to offer).
 *
 * ALPN: `http/1.1`, `h2` while `handlers.h2` is set (helper tls-h2), `acme-tls/1` while
 * `handlers.acmeAlpnContext` is set (TLS-ALPN-01, RFC 8737, helper tls-acme).
 */
import type { Socket } from 'node:net';
import { createServer, type SecureContext, type Server, type TLSSocket } from 'node:tls';
import type { ProxyMetrics, TlsFailureReason } from '../observe/metrics.js';
import {
  type AcmeCertificates,
  type CertificateStore,
  type LoadedCertificate,
  NO_CERTIFICATES,
  TLS_SETTINGS,
} from './certificates.js';

export interface TlsHandlers {
  /** An ALPN-h2 connection, after the handshake. Null: h2 not offered in ALPN. */
  h2: ((socket: TLSSocket) => void) | null;
  /**
   * TLS-ALPN-01 (RFC 8737): the challenge certificate for a name, if an order is pending for it and `socket`'s
   * ClientHello offered only `acme-tls/1` (tls/acme/client-hello.ts reads that before node:tls does).
   */
  acmeAlpnContext: ((servername: string, socket: TLSSocket) => SecureContext | undefined) | null;
}

export interface TlsListenerOptions {
  /** An HTTP/1.1 connection after its handshake: the traffic server's 'connection'. */
  handOver(socket: TLSSocket): void;
  metrics: ProxyMetrics;
  log(line: string): void;
  /** A handshake must be complete within this, ms. */
  handshakeTimeoutMs: number;
  /** Client connections at once (0: no limit). */
  maxConnections: number;
  /** The ACME manager supplying `"acme"` hosts' certificates, or null. */
  acme: AcmeCertificates | null;
}

/** `unrecognized_name` (112) as a fatal alert record: content type 21, TLS 1.2 record version, length 2. */
const UNRECOGNIZED_NAME_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70]);

/** The ALPN protocol names, as node passes them to ALPNCallback. */
const HTTP1 = 'http/1.1';
const H2 = 'h2';
const ACME_TLS = 'acme-tls/1';

export class TlsListener {
  readonly server: Server;
  readonly handlers: TlsHandlers = { h2: null, acmeAlpnContext: null };
  acme: AcmeCertificates | null;
  #store: CertificateStore = NO_CERTIFICATES;
  #defaultPem = '';
  readonly #metrics: ProxyMetrics;
  readonly #log: (line: string) => void;
  #acmeWarned = '';

  constructor(options: TlsListenerOptions) {
    this.#metrics = options.metrics;
    this.#log = options.log;
    this.acme = options.acme;
    const listener = this;
    const metrics = options.metrics;
    this.server = createServer({
      ...TLS_SETTINGS,
      noDelay: true,
      handshakeTimeout: options.handshakeTimeoutMs,
      // `this` is the TLSSocket being handshaken (node calls it as the socket's method): needed for the alert.
      SNICallback(this: TLSSocket, servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) {
        const challenge = listener.handlers.acmeAlpnContext?.(servername, this);
        if (challenge !== undefined) return cb(null, challenge);
        const context = listener.#store.select(servername, listener.acme);
        if (context !== undefined) return cb(null, context);
        metrics.tls.failed('unknown_name');
        refuseUnknownName(this, cb);
      },
      ALPNCallback({ protocols }: { servername: string; protocols: string[] }): string | undefined {
        if (listener.handlers.acmeAlpnContext !== null && protocols.includes(ACME_TLS)) return ACME_TLS;
        if (listener.handlers.h2 !== null && protocols.includes(H2)) return H2;
        // A client offering neither gets no_application_protocol (RFC 7301 §3.2).
        return protocols.includes(HTTP1) ? HTTP1 : undefined;
      },
    });
    if (options.maxConnections > 0) this.server.maxConnections = options.maxConnections;
    this.server.on('secureConnection', (socket: TLSSocket) => {
      metrics.tls.handshake(socket.getProtocol() ?? 'unknown');
      const alpn = socket.alpnProtocol;
      if (alpn === H2 && listener.handlers.h2 !== null) {
        listener.handlers.h2(socket);
      } else if (alpn === ACME_TLS) {
        // A TLS-ALPN-01 validation: the handshake was the answer (RFC 8737 §3).
        socket.destroy();
      } else {
        options.handOver(socket);
      }
    });
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      // unknown_name was counted when it was refused; its socket errors too when the client resets.
      if ((socket as TLSSocket & { [kRefused]?: boolean })[kRefused] === true) return;
      const noName = !socket.servername && listener.#store.defaultCertificate === null;
      metrics.tls.failed(noName ? 'unknown_name' : failureReason(err));
    });
  }

  /** The certificates of the route table now serving (a reload's): new handshakes use them, open connections carry on. */
  setCertificates(store: CertificateStore): void {
    this.#store = store;
    const pem =
      store.defaultCertificate === null
        ? ''
        : `${store.defaultCertificate.certPem}${store.defaultCertificate.keyPem}`;
    if (pem !== this.#defaultPem) {
      this.#defaultPem = pem;
      const certificate = store.defaultCertificate;
      // The server's own context serves handshakes without SNI (and names SNICallback leaves to it).
      this.server.setSecureContext(
        certificate === null
          ? { ...TLS_SETTINGS }
          : { ...TLS_SETTINGS, cert: certificate.certPem, key: certificate.keyPem },
      );
    }
    this.#acmeNamesChanged();
  }

  get certificates(): CertificateStore {
    return this.#store;
  }

  /** The ACME manager issued or renewed a certificate: new handshakes ask it again; the expiry metric follows. */
  onIssued(): void {
    // Handshakes ask `acme.contextFor` each time, so nothing is cached here to drop.
  }

  /** Certificates by route-table key with their expiry (for nodix_proxy_tls_certificate_not_after). */
  notAfter(): [string, number][] {
    const store = this.#store;
    const out: [string, number][] = [];
    for (const [key, certificate] of store.byHost) out.push([key, certificate.notAfter]);
    if (this.acme?.notAfterFor !== undefined) {
      for (const name of store.acmeNames) {
        const notAfter = this.acme.notAfterFor(name);
        if (notAfter !== undefined) out.push([name, notAfter]);
      }
    }
    const fallback: LoadedCertificate | null = store.defaultCertificate;
    if (fallback !== null) out.push(['defaultTls', fallback.notAfter]);
    return out;
  }

  #acmeNamesChanged(): void {
    const names = this.#store.acmeNames;
    this.acme?.setNames?.(names);
    if (this.acme === null && names.length > 0) {
      const list = names.join(', ');
      if (list !== this.#acmeWarned) {
        this.#acmeWarned = list;
        this.#log(
          `[proxy] hosts ${list} ask for ACME certificates but no ACME manager runs: until one does they get ${this.#store.defaultCertificate === null ? 'the unrecognized_name alert' : 'the default certificate'}`,
        );
      }
    }
  }
}

const kRefused = Symbol('nodix.tlsRefused');

/** Sends `unrecognized_name` on the TCP socket under `socket` and closes both (see the file comment). */
function refuseUnknownName(socket: TLSSocket, cb: (err: Error | null) => void): void {
  (socket as TLSSocket & { [kRefused]?: boolean })[kRefused] = true;
  const raw = (socket as TLSSocket & { _parent?: Socket | null })._parent;
  if (raw === null || raw === undefined || !raw.writable) {
    cb(new Error('unrecognized name'));
    return;
  }
  raw.write(UNRECOGNIZED_NAME_ALERT);
  raw.end();
  socket.destroy();
}

/** The bounded reason of a failed handshake (nodix_proxy_tls_handshake_failures_total). */
export function failureReason(err: NodeJS.ErrnoException): TlsFailureReason {
  const code = err.code ?? '';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  if (code.includes('NO_SHARED_CIPHER') || code.includes('NO_CIPHERS') || code.includes('NO_SUITABLE'))
    return 'no_shared_cipher';
  if (code.includes('PROTOCOL') || code.includes('VERSION')) return 'protocol_version';
  return 'other';
}
