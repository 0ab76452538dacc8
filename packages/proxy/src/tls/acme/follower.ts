/**
 * The certificates of `"acme"` hosts in a cluster worker: the primary runs the one AcmeManager of the machine
 * (lifecycle/cluster.ts) and tells the workers, over IPC, when a certificate was issued (they read it from the
 * shared state directory) and which challenges are up (workers serve the traffic the CA validates with). A
 * worker reads the directory, never writes it, and never talks to the CA.
 */
import { type AcmeCertificate, type AcmeChallengeEvent, AcmeSource, loadAcmeCertificate } from './source.js';
import { AcmeState } from './state.js';

export class AcmeFollower extends AcmeSource {
  readonly #state: AcmeState;
  readonly #log: (line: string) => void;
  readonly #certificates = new Map<string, AcmeCertificate | null>();

  constructor(dir: string, log: (line: string) => void) {
    super();
    this.#state = new AcmeState(dir);
    this.#log = log;
  }

  protected current(name: string): AcmeCertificate | null | undefined {
    return this.#certificates.get(name);
  }

  /** The `"acme"` names of the table now serving: new ones are read from the state directory. */
  setNames(names: readonly string[]): void {
    const wanted = new Set(names.map((name) => name.toLowerCase()));
    for (const name of this.#certificates.keys()) if (!wanted.has(name)) this.#certificates.delete(name);
    for (const name of wanted) if (!this.#certificates.has(name)) this.issued(name);
  }

  /** The primary stored a new certificate for `name`: read it. */
  issued(name: string): void {
    let loaded: AcmeCertificate | null = null;
    try {
      const stored = this.#state.certificate(name);
      if (stored !== null) loaded = loadAcmeCertificate(stored.key, stored.cert);
    } catch (err) {
      this.#log(`[acme] ${name}: cannot use the stored certificate: ${(err as Error).message}`);
    }
    // A failed read keeps the certificate in service, if any.
    if (loaded !== null || !this.#certificates.has(name)) this.#certificates.set(name, loaded);
  }

  /** A challenge the primary put up or took down. */
  challenge(event: AcmeChallengeEvent): void {
    this.applyChallenge(event);
  }
}
