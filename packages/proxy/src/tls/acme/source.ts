/**
 * What the TLS listener asks of ACME (tls/certificates.ts AcmeCertificates, listener.ts acmeAlpnContext), the
 * same for the process running the manager (manager.ts) and for cluster workers following it (follower.ts):
 * the current certificate of a name, and the TLS-ALPN-01 challenge certificates while orders wait.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { setAcmeChallenge } from './http-01.js';

/**
 * A challenge put up (answer set) or taken down (answer null): what cluster workers, which serve the traffic the
 * CA validates with, need from the primary running the manager (lifecycle/cluster.ts).
 */
export type AcmeChallengeEvent =
  | { kind: 'http-01'; token: string; keyAuthorization: string | null }
  | { kind: 'tls-alpn-01'; name: string; key: string | null; cert: string | null };

export interface AcmeCertificate {
  context: SecureContext;
  /** ms since the epoch */
  notBefore: number;
  notAfter: number;
}

/** A PEM key and certificate chain ready for handshakes; throws when they do not match or do not parse. */
export function loadAcmeCertificate(key: string, cert: string): AcmeCertificate {
  const context = createSecureContext({ key, cert });
  const x509 = new X509Certificate(cert);
  return { context, notBefore: Date.parse(x509.validFrom), notAfter: Date.parse(x509.validTo) };
}

export abstract class AcmeSource {
  /** TLS-ALPN-01 challenge certificates of pending orders, by name. */
  readonly #alpn = new Map<string, SecureContext>();

  /** The certificate in service for `name`, if any. */
  protected abstract current(name: string): AcmeCertificate | null | undefined;

  /** The certificate for `name`, undefined until one is issued. */
  contextFor(name: string): SecureContext | undefined {
    return this.current(name)?.context;
  }

  /** Its expiry, seconds since the epoch. */
  notAfterFor(name: string): number | undefined {
    const certificate = this.current(name);
    return certificate ? Math.floor(certificate.notAfter / 1000) : undefined;
  }

  /** TLS-ALPN-01: the challenge certificate of `servername` while its order waits for the CA (RFC 8737). */
  alpnContext(servername: string): SecureContext | undefined {
    return this.#alpn.size === 0 ? undefined : this.#alpn.get(servername.toLowerCase());
  }

  /** Any TLS-ALPN-01 challenge pending (the listener reads ClientHellos only then, client-hello.ts). */
  get alpnPending(): boolean {
    return this.#alpn.size !== 0;
  }

  /** Answers (or stops answering) a challenge in this process: HTTP-01 tokens, TLS-ALPN-01 certificates. */
  protected applyChallenge(event: AcmeChallengeEvent): void {
    if (event.kind === 'http-01') setAcmeChallenge(event.token, event.keyAuthorization);
    else if (event.key === null || event.cert === null) this.#alpn.delete(event.name);
    else this.#alpn.set(event.name, createSecureContext({ key: event.key, cert: event.cert }));
  }
}
