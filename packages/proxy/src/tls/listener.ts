/**
 * The TLS listener (`--listen-tls`): a TCP listener whose connections are handshaken by node:tls (two servers:
 * with SNI and without, see #sortOut), picking their certificate by SNI from the route table's CertificateStore
 * (certificates.ts), and whose HTTP/1.1 connections, once the handshake is done,
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
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import {
  createServer as createTlsServer,
  type SecureContext,
  type TLSSocket,
  type Server as TlsServer,
} from 'node:tls';
import type { ProxyMetrics, TlsFailureReason } from '../observe/metrics.js';
import { markAcmeTlsOnly, offersAcmeTlsAlone, parseClientHello } from './acme/client-hello.js';
import {
  type AcmeCertificates,
  type CertificateStore,
  contextSettings,
  type LoadedCertificate,
  NO_CERTIFICATES,
} from './certificates.js';

export interface TlsHandlers {
  /** An ALPN-h2 connection, after the handshake. Null: h2 not offered in ALPN. */
  h2: ((socket: TLSSocket) => void) | null;
  /**
   * TLS-ALPN-01 (RFC 8737): the challenge certificate for a name, if an order is pending for it and `socket`'s
   * ClientHello offered only `acme-tls/1` (the listener reads every ClientHello before node:tls does, see
   * `#sortOut`; tls/acme/client-hello.ts). Asked first, for every handshake's SNI name (node's SNICallback runs
   * before ALPN is known): answer undefined at once unless a validation for that name is under way.
   * `acme-tls/1` is offered in ALPN while this is set; such a connection is closed right after its handshake.
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
  /** Session tickets (resumption); false makes every handshake a full one. */
  sessionResumption: boolean;
}

/** `unrecognized_name` (112) as a fatal alert record: content type 21, TLS 1.2 record version, length 2. */
const UNRECOGNIZED_NAME_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70]);

/** The ALPN protocol names, as node passes them to ALPNCallback. */
const HTTP1 = 'http/1.1';
const H2 = 'h2';
const ACME_TLS = 'acme-tls/1';

export class TlsListener {
  /** The listening TCP server; connections go on to one of the two TLS servers below. */
  readonly server: NetServer;
  readonly #withSni: TlsServer;
  readonly #withoutSni: TlsServer;
  readonly handlers: TlsHandlers = { h2: null, acmeAlpnContext: null };
  acme: AcmeCertificates | null;
  #store: CertificateStore = NO_CERTIFICATES;
  #defaultPem = '';
  readonly #metrics: ProxyMetrics;
  readonly #log: (line: string) => void;
  #acmeWarned = '';
  /** TCP connections of the listener, from the accept on (handshakes included): what close() ends. */
  readonly #sockets = new Set<Socket>();
  readonly #settings: ReturnType<typeof contextSettings>;

  constructor(options: TlsListenerOptions) {
    this.#metrics = options.metrics;
    this.#log = options.log;
    this.acme = options.acme;
    const listener = this;
    const metrics = options.metrics;
    this.#settings = contextSettings(options.sessionResumption);
    const common = {
      ...this.#settings,
      handshakeTimeout: options.handshakeTimeoutMs,
      ALPNCallback({ protocols }: { servername: string; protocols: string[] }): string | undefined {
        if (listener.handlers.acmeAlpnContext !== null && protocols.includes(ACME_TLS)) return ACME_TLS;
        if (listener.handlers.h2 !== null && protocols.includes(H2)) return H2;
        // A client offering neither gets no_application_protocol (RFC 7301 §3.2).
        return protocols.includes(HTTP1) ? HTTP1 : undefined;
      },
    };
    // Handshakes with SNI: a server context without a certificate, every certificate from SNICallback.
    this.#withSni = createTlsServer({
      ...common,
      // `this` is the TLSSocket being handshaken (node calls it as the socket's method): needed for the alert.
      SNICallback(this: TLSSocket, servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) {
        const challenge = listener.handlers.acmeAlpnContext?.(servername, this);
        if (challenge !== undefined) return cb(null, challenge);
        const context = listener.#store.select(servername, listener.acme);
        if (context !== undefined) return cb(null, context);
        metrics.tls.failed('unknown_name');
        refuseUnknownName(this, cb);
      },
    });
    // Handshakes without SNI: the default certificate as the server context (node asks no SNICallback then).
    this.#withoutSni = createTlsServer(common);
    const onSecure = (socket: TLSSocket) => {
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
    };
    const onFailure = (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      // unknown_name was counted when it was refused; its socket errors too when the client resets.
      if ((socket as TLSSocket & { [kRefused]?: boolean })[kRefused] === true) return;
      const reason = failureReason(err);
      // Without SNI and without a default certificate OpenSSL has no certificate to offer: that is a name problem.
      const noName = !socket.servername && listener.#store.defaultCertificate === null;
      metrics.tls.failed(
        noName && (reason === 'no_shared_cipher' || reason === 'other') ? 'unknown_name' : reason,
      );
    };
    for (const tls of [this.#withSni, this.#withoutSni]) {
      tls.on('secureConnection', onSecure);
      tls.on('tlsClientError', onFailure);
    }
    const sockets = this.#sockets;
    const timeoutMs = options.handshakeTimeoutMs;
    this.server = createNetServer({ noDelay: true }, (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      listener.#sortOut(socket, timeoutMs);
    });
    if (options.maxConnections > 0) this.server.maxConnections = options.maxConnections;
  }

  /**
   * Reads the ClientHello's first record and gives the connection to the TLS server for handshakes with SNI or to
   * the one for handshakes without. node applies an SNI context by copying its certificate into the connection
   * next to the server context's (one slot per key type), and OpenSSL then chooses by the client's preference: a
   * default certificate in the server context would be served instead of an RSA host's when it is ECDSA. So the
   * SNI server's context holds none, and the default certificate is the no-SNI server's. The bytes read are put
   * back: a TLSSocket takes what its socket has buffered first.
   */
  #sortOut(socket: Socket, timeoutMs: number): void {
    let buffered: Buffer | null = null;
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    timer.unref();
    const onData = (chunk: Buffer) => {
      buffered = buffered === null ? chunk : Buffer.concat([buffered, chunk]);
      const first = buffered[0]!;
      if (first >= 0x41 && first <= 0x5a) {
        // An uppercase letter, where a TLS record starts with 0x16: an HTTP method, plain HTTP sent to the TLS
        // port. Say so in a 400, as nginx does, rather than closing without a word.
        socket.off('data', onData);
        clearTimeout(timer);
        this.#metrics.tls.failed('plain_http');
        socket.end(PLAIN_HTTP_RESPONSE, 'latin1');
        return;
      }
      const hello = parseClientHello(buffered);
      if (hello === 'incomplete' && buffered.length < MAX_FIRST_RECORD) return;
      // Anything the parser does not understand goes to the SNI server, which fails it as any TLS server would.
      const sni = hello !== null && hello !== 'incomplete' ? hello.servername !== '' : true;
      if (hello !== null && hello !== 'incomplete' && offersAcmeTlsAlone(hello)) markAcmeTlsOnly(socket);
      socket.off('data', onData);
      socket.off('error', onError);
      clearTimeout(timer);
      socket.pause();
      socket.unshift(buffered);
      (sni === false ? this.#withoutSni : this.#withSni).emit('connection', socket);
    };
    const onError = () => {
      clearTimeout(timer);
      socket.destroy();
    };
    socket.on('data', onData);
    socket.on('error', onError);
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
      // The no-SNI server's own context serves handshakes without SNI.
      this.#withoutSni.setSecureContext(
        certificate === null
          ? { ...this.#settings }
          : { ...this.#settings, cert: certificate.certPem, key: certificate.keyPem },
      );
    }
    this.#acmeNamesChanged();
  }

  /**
   * Stops accepting and resolves once every connection of the listener is gone. `closeAll` ends the ones still
   * open (handshakes in progress, connections nobody else closes); until it is called they may finish.
   */
  close(): { closed: Promise<void>; closeAll(): void } {
    const server = this.server;
    const closed = new Promise<void>((resolve) => {
      if (!server.listening) resolve();
      else server.close(() => resolve());
    });
    return {
      closed,
      closeAll: () => {
        for (const socket of this.#sockets) socket.destroy();
      },
    };
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

const PLAIN_HTTP_BODY = 'This port speaks HTTPS: the request was sent as plain HTTP. Use an https:// URL.\n';
/** The answer to plain HTTP on the TLS port (built once). */
const PLAIN_HTTP_RESPONSE = `HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: ${PLAIN_HTTP_BODY.length}\r\nconnection: close\r\n\r\n${PLAIN_HTTP_BODY}`;

/** A TLS record's largest size (16 KB of payload + its header and expansion): more is not a first record. */
const MAX_FIRST_RECORD = 5 + 16_384 + 2048;

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
