/**
 * The certificates of `"acme"` hosts in a cluster worker: the primary runs the one AcmeManager of the machine
 * (lifecycle/cluster.ts) and tells the workers, over IPC, when a certificate was issued (they read it from the
 * shared state directory) and which challenges are up (workers serve the traffic the CA validates with). A
 * worker reads the directory, never writes it, and never talks to the CA.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { type AcmeChallengeEvent, applyChallenge } from './manager.js';
import { AcmeState } from './state.js';

interface Loaded {
  context: SecureContext;
  notAfter: number;
}

export class AcmeFollower {
  readonly #state: AcmeState;
  readonly #log: (line: string) => void;
  readonly #certificates = new Map<string, Loaded | null>();
  readonly #alpn = new Map<string, SecureContext>();

  constructor(dir: string, log: (line: string) => void) {
    this.#state = new AcmeState(dir);
    this.#log = log;
  }

  contextFor(name: string): SecureContext | undefined {
    return this.#certificates.get(name)?.context;
  }

  notAfterFor(name: string): number | undefined {
    const loaded = this.#certificates.get(name);
    return loaded ? Math.floor(loaded.notAfter / 1000) : undefined;
  }

  alpnContext(servername: string): SecureContext | undefined {
    return this.#alpn.size === 0 ? undefined : this.#alpn.get(servername.toLowerCase());
  }

  get alpnPending(): boolean {
    return this.#alpn.size !== 0;
  }

  /** The `"acme"` names of the table now serving: new ones are read from the state directory. */
  setNames(names: readonly string[]): void {
    const wanted = new Set(names.map((name) => name.toLowerCase()));
    for (const name of this.#certificates.keys()) if (!wanted.has(name)) this.#certificates.delete(name);
    for (const name of wanted) if (!this.#certificates.has(name)) this.issued(name);
  }

  /** The primary stored a new certificate for `name`: read it. */
  issued(name: string): void {
    let loaded: Loaded | null = null;
    try {
      const stored = this.#state.certificate(name);
      if (stored !== null) {
        loaded = {
          context: createSecureContext({ key: stored.key, cert: stored.cert }),
          notAfter: Date.parse(new X509Certificate(stored.cert).validTo),
        };
      }
    } catch (err) {
      this.#log(`[acme] ${name}: cannot use the stored certificate: ${(err as Error).message}`);
    }
    // A failed read keeps the certificate in service, if any.
    if (loaded !== null || !this.#certificates.has(name)) this.#certificates.set(name, loaded);
  }

  /** A challenge the primary put up or took down. */
  challenge(event: AcmeChallengeEvent): void {
    applyChallenge(this.#alpn, event);
  }
}
