/**
 * The ACME manager (RFC 8555, through the `acme-client` library): keeps a valid certificate for every name whose
 * route-table host says `"tls": "acme"`.
 *
 * - At start it loads the account and the stored certificates (state.ts): a name with a certificate that is not
 *   due for renewal gets no order.
 * - A name with none, or one within `renewDays` of expiry, is queued for an order. Orders run one per name and at
 *   most `concurrency` at once (default 1): never a burst against the CA, whatever the route table holds.
 * - Each order answers its challenge over HTTP-01 (http-01.ts, the plain listener) or TLS-ALPN-01 (RFC 8737, the
 *   TLS listener's `acmeAlpnContext`), in the order of `challenges`.
 * - A failed order is retried after an exponential backoff (`retryMinMs` doubling up to `retryMaxMs`, with
 *   ±25% jitter), stored in the state directory so a restart waits too.
 * - A timer per name wakes it when its renewal is due (and `setNames`, called on every route-table change,
 *   checks again). Names no longer in the table lose their timer and queue place; their files stay.
 *
 * Log lines (prefix `[acme]`): order started, challenge ready, issued / renewed, failed with the CA's problem
 * detail and the next retry time. Results count in `nodix_proxy_acme_orders_total{result}`.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import type * as Acme from 'acme-client';
import { ACME_CHALLENGE_PREFIX } from './http-01.js';
import { type AcmeCertificate, type AcmeChallengeEvent, AcmeSource, loadAcmeCertificate } from './source.js';
import { AcmeState } from './state.js';

export type { AcmeChallengeEvent };

export type AcmeChallengeType = 'http-01' | 'tls-alpn-01';

export type AcmeOrderResult = 'issued' | 'renewed' | 'failed';

/** Let's Encrypt's production directory (acme-client's `directory.letsencrypt.production`). */
export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';
export const DEFAULT_RENEW_DAYS = 30;

export interface AcmeManagerOptions {
  /** State directory (created 0700). */
  dir: string;
  /** The CA's directory URL. Default: Let's Encrypt production. */
  directoryUrl?: string;
  /** Account contact. */
  email?: string | null;
  /** PEM file of an extra CA trusted for the directory's HTTPS (Pebble's), besides the system's roots. */
  caFile?: string | null;
  /** Renew this many days before expiry. Default 30. */
  renewDays?: number;
  /** Challenge types the proxy can answer, preferred first. Default HTTP-01 then TLS-ALPN-01. */
  challenges?: readonly AcmeChallengeType[];
  /** Orders at once over all names. Default 1. */
  concurrency?: number;
  /** First retry delay after a failed order, ms (doubles per failure). Default 60 s. */
  retryMinMs?: number;
  /** Longest retry delay, ms. Default 24 h. */
  retryMaxMs?: number;
  /** First delay of the library's status polling, ms. Default 1000. */
  pollMs?: number;
  log?: (line: string) => void;
  /** Counts an order's result (nodix_proxy_acme_orders_total). */
  onOrder?: (result: AcmeOrderResult) => void;
  /** A certificate was issued or renewed (the TLS listener's `onIssued`). */
  onIssued?: (name: string) => void;
  /**
   * Order as soon as names arrive (default true). False: names are loaded but nothing is ordered before
   * `start()` (createProxy calls it once its listeners are bound, so the CA's validation finds them).
   */
  autoStart?: boolean;
  /** A challenge was put up or taken down (besides answering it in this process). */
  onChallenge?: (event: AcmeChallengeEvent) => void;
}

interface Issued extends AcmeCertificate {
  /** When a renewal is due, ms since the epoch. */
  renewAt: number;
}

interface NameState {
  readonly name: string;
  issued: Issued | null;
  timer: NodeJS.Timeout | null;
  failures: number;
  nextAttemptAt: number;
}

/**
 * The names of a route-table config's hosts with `"tls": "acme"` (the raw config: the cluster primary keeps the
 * table as its workers get it). Wildcard hosts are left out: route-table validation refuses them with "acme".
 */
export function acmeHostNames(config: unknown): string[] {
  const hosts = (config as { hosts?: Record<string, { tls?: unknown }> } | null)?.hosts;
  if (hosts === undefined || hosts === null || typeof hosts !== 'object') return [];
  return Object.entries(hosts)
    .filter(([name, host]) => host?.tls === 'acme' && !name.startsWith('*'))
    .map(([name]) => name.toLowerCase());
}

/**
 * The ACME challenges a proxy can answer, the likelier to work first: TLS-ALPN-01 needs the TLS listener;
 * it goes first when that listener is on 443 and the plain one is not on 80 (the CA validates on those ports).
 */
export function challengeOrder(plain: { port: number }, tls: { port: number } | null): AcmeChallengeType[] {
  if (tls === null) return ['http-01'];
  return tls.port === 443 && plain.port !== 80 ? ['tls-alpn-01', 'http-01'] : ['http-01', 'tls-alpn-01'];
}

/** setTimeout's longest delay is 2^31-1 ms (~24.8 days); longer waits wake up and look again. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const DAY_MS = 86_400_000;
/** The only names an order is placed for (a host-name label syntax; no wildcard: HTTP-01/TLS-ALPN-01 cannot prove one). */
const ORDERABLE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export class AcmeManager extends AcmeSource {
  readonly directoryUrl: string;
  readonly renewDays: number;
  readonly #state: AcmeState;
  readonly #options: AcmeManagerOptions;
  readonly #log: (line: string) => void;
  readonly #challenges: readonly AcmeChallengeType[];
  readonly #concurrency: number;
  readonly #retryMinMs: number;
  readonly #retryMaxMs: number;
  readonly #names = new Map<string, NameState>();
  readonly #queue: string[] = [];
  readonly #running = new Set<string>();
  /** The challenges up now, by token or name (replayed to a cluster worker that starts meanwhile). */
  readonly #pending = new Map<string, AcmeChallengeEvent>();
  #client: Promise<Acme.Client> | null = null;
  /** acme-client, loaded with the first order: a proxy without "acme" hosts never pays its ~140 ms and ~30 MB. */
  #acme: typeof Acme | null = null;
  /** The state directory exists (created with the first name: a proxy without "acme" hosts makes none). */
  #initialised = false;
  #closed = false;
  #started: boolean;
  #idleWaiters: (() => void)[] = [];

  constructor(options: AcmeManagerOptions) {
    super();
    this.#started = options.autoStart ?? true;
    this.#options = options;
    this.directoryUrl = options.directoryUrl ?? LETS_ENCRYPT_DIRECTORY;
    this.renewDays = options.renewDays ?? DEFAULT_RENEW_DAYS;
    this.#log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.#challenges = options.challenges ?? ['http-01', 'tls-alpn-01'];
    this.#concurrency = Math.max(1, options.concurrency ?? 1);
    this.#retryMinMs = options.retryMinMs ?? 60_000;
    this.#retryMaxMs = options.retryMaxMs ?? DAY_MS;
    this.#state = new AcmeState(options.dir);
  }

  protected current(name: string): AcmeCertificate | null | undefined {
    return this.#names.get(name)?.issued;
  }

  /**
   * The names of the `"acme"` hosts in the table now serving (called at start and on every table change): new
   * names load their stored certificate or get an order; removed names stop being renewed.
   */
  setNames(names: readonly string[]): void {
    if (this.#closed) return;
    const wanted = new Set<string>();
    for (const raw of names) {
      const name = raw.toLowerCase();
      if (!ORDERABLE.test(name)) {
        this.#log(
          `[acme] ${raw}: not a name a certificate can be ordered for over HTTP-01/TLS-ALPN-01; skipped`,
        );
        continue;
      }
      wanted.add(name);
    }
    if (wanted.size > 0 && !this.#initialised) {
      try {
        this.#state.init();
        this.#initialised = true;
      } catch (err) {
        this.#log(
          `[acme] cannot create the state directory ${this.#state.dir}: ${(err as Error).message}; no certificates ordered`,
        );
        return;
      }
    }
    for (const [name, entry] of this.#names) {
      if (wanted.has(name)) continue;
      if (entry.timer !== null) clearTimeout(entry.timer);
      this.#names.delete(name);
      const queued = this.#queue.indexOf(name);
      if (queued !== -1) this.#queue.splice(queued, 1);
      this.#log(`[acme] ${name}: no longer in the route table; not renewed any more`);
    }
    for (const name of wanted) {
      let entry = this.#names.get(name);
      if (entry === undefined) {
        entry = { name, issued: null, timer: null, failures: 0, nextAttemptAt: 0 };
        this.#names.set(name, entry);
        this.#load(entry);
      }
      this.#plan(entry);
    }
  }

  /** Resolves when no order runs or waits (tests; shutdown). */
  idle(): Promise<void> {
    if (this.#running.size === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops timers and new orders; running ones finish (their result is stored). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const entry of this.#names.values()) if (entry.timer !== null) clearTimeout(entry.timer);
    this.#queue.length = 0;
    await this.idle();
  }

  // --- state ---

  #load(entry: NameState): void {
    const stored = this.#state.certificate(entry.name);
    if (stored !== null) {
      try {
        entry.issued = this.#issued(stored.key, stored.cert);
        this.#log(
          `[acme] ${entry.name}: stored certificate valid until ${new Date(entry.issued.notAfter).toISOString()}`,
        );
      } catch (err) {
        this.#log(
          `[acme] ${entry.name}: stored certificate unusable (${(err as Error).message}); ordering a new one`,
        );
      }
    }
    const retry = this.#state.retry(entry.name);
    if (retry !== null) {
      entry.failures = retry.failures;
      entry.nextAttemptAt = retry.nextAttemptAt;
    }
  }

  /**
   * A certificate put into service. `fresh`: just issued; if the renew window is longer than the certificate's
   * whole life (a CA issuing short-lived certificates), it is renewed after 2/3 of its life instead of at once
   * and again and again.
   */
  #issued(key: string, cert: string, fresh = false): Issued {
    const loaded = loadAcmeCertificate(key, cert);
    const { notBefore, notAfter } = loaded;
    let renewAt = notAfter - this.renewDays * DAY_MS;
    if (fresh && renewAt <= Date.now()) {
      renewAt = notBefore + ((notAfter - notBefore) * 2) / 3;
      this.#log(
        `[acme] the certificate lives less than --acme-renew-days (${this.renewDays}); renewing at 2/3 of its life, ${new Date(renewAt).toISOString()}`,
      );
    }
    return { ...loaded, renewAt };
  }

  /** Queues an order now if one is due, else sets the timer for when it is. */
  /** Starts ordering (with `autoStart: false`): every name due now is queued, the others get their timer. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const entry of this.#names.values()) this.#plan(entry);
  }

  #plan(entry: NameState): void {
    if (!this.#started || this.#closed || this.#names.get(entry.name) !== entry) return;
    if (entry.timer !== null) {
      clearTimeout(entry.timer);
      entry.timer = null;
    }
    if (this.#running.has(entry.name) || this.#queue.includes(entry.name)) return;
    const due = Math.max(entry.issued === null ? 0 : entry.issued.renewAt, entry.nextAttemptAt);
    const wait = due - Date.now();
    if (wait <= 0) {
      this.#queue.push(entry.name);
      this.#pump();
      return;
    }
    entry.timer = setTimeout(
      () => {
        entry.timer = null;
        this.#plan(entry);
      },
      Math.min(wait, MAX_TIMER_MS),
    );
    entry.timer.unref();
  }

  #pump(): void {
    while (!this.#closed && this.#running.size < this.#concurrency && this.#queue.length > 0) {
      const name = this.#queue.shift()!;
      const entry = this.#names.get(name);
      if (entry === undefined) continue;
      this.#running.add(name);
      void this.#order(entry).finally(() => {
        this.#running.delete(name);
        this.#plan(entry);
        this.#pump();
        if (this.#running.size === 0 && this.#queue.length === 0) {
          for (const resolve of this.#idleWaiters.splice(0)) resolve();
        }
      });
    }
  }

  // --- the ACME conversation ---

  #clientOnce(): Promise<Acme.Client> {
    if (this.#client === null) {
      this.#client = this.#account().catch((err) => {
        this.#client = null;
        throw err;
      });
    }
    return this.#client;
  }

  async #account(): Promise<Acme.Client> {
    const loaded = await import('acme-client');
    const acme = (loaded as unknown as { default: typeof Acme }).default;
    this.#acme = acme;
    const caFile = this.#options.caFile;
    if (caFile) {
      // acme-client's requests go through its one axios instance: trust the extra CA there (the process's
      // other HTTPS clients are not affected).
      const ca = [...rootCertificates, readFileSync(caFile, 'utf8')];
      acme.axios.defaults.httpsAgent = new Agent({ ca, keepAlive: true });
    }
    let accountKey = this.#state.accountKey();
    if (accountKey === null) {
      accountKey = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
      this.#state.saveAccountKey(accountKey);
    }
    const stored = this.#state.account();
    const accountUrl = stored !== null && stored.directory === this.directoryUrl ? stored.url : undefined;
    const poll = this.#options.pollMs ?? 1000;
    const client = new acme.Client({
      directoryUrl: this.directoryUrl,
      accountKey,
      accountUrl,
      backoffAttempts: 12,
      backoffMin: poll,
      backoffMax: Math.max(poll, 10_000),
    });
    if (accountUrl === undefined) {
      const email = this.#options.email;
      await client.createAccount({
        termsOfServiceAgreed: true,
        ...(email ? { contact: [`mailto:${email}`] } : {}),
      });
      this.#state.saveAccount({ directory: this.directoryUrl, url: client.getAccountUrl() });
      this.#log(`[acme] account registered at ${this.directoryUrl}: ${client.getAccountUrl()}`);
    }
    return client;
  }

  async #order(entry: NameState): Promise<void> {
    const name = entry.name;
    const renewal = entry.issued !== null;
    const cleanups: (() => void)[] = [];
    try {
      const client = await this.#clientOnce();
      const acme = this.#acme!;
      this.#log(
        `[acme] ${name}: order started (${renewal ? 'renewal' : 'new certificate'}) at ${this.directoryUrl}`,
      );
      const order = await client.createOrder({ identifiers: [{ type: 'dns', value: name }] });
      const authorizations = await client.getAuthorizations(order);
      for (const authz of authorizations) {
        if (authz.status === 'valid') continue;
        const challenge = this.#pick(authz.challenges, entry.failures);
        if (challenge === undefined) {
          const offered = authz.challenges.map((c) => c.type).join(', ');
          throw new Error(`the CA offers no challenge the proxy answers (offered: ${offered})`);
        }
        const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
        if (challenge.type === 'http-01') {
          const token = (challenge as { token: string }).token;
          this.#challenge({ kind: 'http-01', token, keyAuthorization });
          cleanups.push(() => this.#challenge({ kind: 'http-01', token, keyAuthorization: null }));
          this.#log(`[acme] ${name}: challenge ready: http-01 at ${ACME_CHALLENGE_PREFIX}${token}`);
        } else {
          const [key, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
          this.#challenge({ kind: 'tls-alpn-01', name, key: key.toString(), cert: cert.toString() });
          cleanups.push(() => this.#challenge({ kind: 'tls-alpn-01', name, key: null, cert: null }));
          this.#log(`[acme] ${name}: challenge ready: tls-alpn-01`);
        }
        await client.completeChallenge(challenge);
        await client.waitForValidStatus(challenge);
      }
      const [key, csr] = await acme.crypto.createCsr(
        { commonName: name, altNames: [name] },
        await acme.crypto.createPrivateEcdsaKey('P-256'),
      );
      const finalized = await client.finalizeOrder(order, csr);
      const cert = await client.getCertificate(finalized);
      const issued = this.#issued(key.toString(), cert, true);
      this.#state.saveCertificate(name, key.toString(), cert);
      this.#state.saveRetry(name, null);
      entry.issued = issued;
      entry.failures = 0;
      entry.nextAttemptAt = 0;
      this.#log(
        `[acme] ${name}: certificate ${renewal ? 'renewed' : 'issued'}, valid until ${new Date(issued.notAfter).toISOString()}`,
      );
      this.#options.onOrder?.(renewal ? 'renewed' : 'issued');
      this.#options.onIssued?.(name);
    } catch (err) {
      entry.failures++;
      const delay = this.#retryDelay(entry.failures);
      entry.nextAttemptAt = Date.now() + delay;
      const message = (err as Error).message.replace(/\s+/g, ' ');
      this.#state.saveRetry(name, {
        failures: entry.failures,
        nextAttemptAt: entry.nextAttemptAt,
        lastError: message,
      });
      this.#log(
        `[acme] ${name}: order failed (${entry.failures} in a row): ${message}; next retry at ${new Date(entry.nextAttemptAt).toISOString()}`,
      );
      this.#options.onOrder?.('failed');
    } finally {
      for (const cleanup of cleanups) cleanup();
    }
  }

  /** Puts a challenge up or down here, and tells `onChallenge`. */
  #challenge(event: AcmeChallengeEvent): void {
    const id = event.kind === 'http-01' ? `http-01 ${event.token}` : `tls-alpn-01 ${event.name}`;
    const up = event.kind === 'http-01' ? event.keyAuthorization !== null : event.cert !== null;
    if (up) this.#pending.set(id, event);
    else this.#pending.delete(id);
    this.applyChallenge(event);
    this.#options.onChallenge?.(event);
  }

  /** The challenges up now (for a cluster worker that starts while an order waits). */
  pendingChallenges(): AcmeChallengeEvent[] {
    return [...this.#pending.values()];
  }

  /**
   * The first challenge of `challenges` the CA offers, starting with the next type after each failed order: when
   * the CA cannot reach one port (80 for HTTP-01, 443 for TLS-ALPN-01) the retry tries the other.
   */
  #pick<T extends { type: string }>(offered: T[], failures: number): T | undefined {
    const types = this.#challenges;
    for (let i = 0; i < types.length; i++) {
      const type = types[(i + failures) % types.length];
      const challenge = offered.find((c) => c.type === type);
      if (challenge !== undefined) return challenge;
    }
    return undefined;
  }

  /** retryMinMs · 2^(failures-1), at most retryMaxMs, ±25% jitter. */
  #retryDelay(failures: number): number {
    const base = Math.min(this.#retryMaxMs, this.#retryMinMs * 2 ** Math.min(failures - 1, 40));
    return Math.round(base * (0.75 + Math.random() * 0.5));
  }
}
