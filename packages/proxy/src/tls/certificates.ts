/**
 * The certificates of one route table: every `tls: { cert, key }` file pair read, checked and turned into a
 * SecureContext when the table is loaded, never per handshake; and the SNI lookup the TLS listener (listener.ts)
 * makes per handshake: exact name, then the longest wildcard, then `"acme"` hosts' certificates from the ACME
 * manager, then `defaultTls`; nothing (the listener refuses with `unrecognized_name`) when none applies.
 *
 * A bad file refuses the whole table (RouteTableError naming the file, the route-table key and why: unreadable,
 * not PEM, not a key, key does not match the certificate), so the last good table, certificates included, keeps
 * serving. Some things only warn, and the certificate is served: expired or not yet valid (nginx serves them too;
 * refusing the table would take every other host's change down with it, and a clock a little off would stop a
 * reload), a certificate that does not name its host, and a key file other users can read.
 *
 * A certificate whose files did not change since the last table keeps its SecureContext (the comparison is by
 * content, so a renewal that replaces the files in place is picked up by the next reload).
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import { RouteTableError } from '../errors.js';
import { type HostIndex, lookupHost, normaliseHost } from '../route-table/host.js';
import type { ValidatedRouteTable, ValidatedTls } from '../route-table/validate.js';

/**
 * What the ACME manager (tls/acme/, helper tls-acme) gives the certificate store: the current certificate of an
 * `"acme"` host. The manager builds its SecureContexts when a certificate is issued, so a handshake costs a Map
 * lookup there. When it issues or renews one it calls the TLS listener's `onIssued()` (listener.ts).
 */
export interface AcmeCertificates {
  /** The certificate for `name` (an `"acme"` host's name), undefined until one is issued. */
  contextFor(name: string): SecureContext | undefined;
  /** Its expiry, seconds since the epoch (for `nodix_proxy_tls_certificate_not_after`); optional. */
  notAfterFor?(name: string): number | undefined;
  /** The names whose hosts say `"tls": "acme"` in the table now serving; called on every table change. */
  setNames?(names: readonly string[]): void;
}

/**
 * Mozilla's "intermediate" configuration (TLS 1.2 suites; TLS 1.3 suites are OpenSSL's defaults, all of which it
 * allows): forward secrecy and AEAD only. The DHE suites of the list are left out: they need DH parameters,
 * and every client that has them also has the ECDHE ones.
 */
export const TLS_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** Protocol versions and ciphers of every context (the listener's default one included). */
export const TLS_SETTINGS = {
  minVersion: 'TLSv1.2',
  maxVersion: 'TLSv1.3',
  ciphers: TLS_CIPHERS,
  ecdhCurve: 'X25519:prime256v1:secp384r1',
  // Mozilla intermediate: the client's order (it knows whether it has AES hardware).
  honorCipherOrder: false,
} as const;

/** One loaded certificate: its context and what metrics and messages say about it. */
export interface LoadedCertificate {
  readonly context: SecureContext;
  /** Validity, seconds since the epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly certPem: string;
  readonly keyPem: string;
  readonly files: ValidatedTls;
}

/** What an SNI name resolves to: a certificate of the table, or an `"acme"` host (asked at handshake time). */
type Entry = LoadedCertificate | { readonly acme: string };

export class CertificateStore implements HostIndex<Entry> {
  readonly exact = new Map<string, Entry>();
  readonly wildcards = new Map<string, Entry>();
  /** Unused: the SNI lookup is not memoised (HostIndex asks for one). */
  readonly memo = new Map<string, Entry | null>();
  /** `defaultTls`, or null. */
  defaultCertificate: LoadedCertificate | null = null;
  /** Route-table key → certificate, for `nodix_proxy_tls_certificate_not_after`. */
  readonly byHost = new Map<string, LoadedCertificate>();
  /** Names of `"acme"` hosts. */
  readonly acmeNames: string[] = [];
  /** Loaded file pairs by `cert\0key`: what the next table may reuse. */
  readonly byFiles = new Map<string, LoadedCertificate>();
  /** Whether any host has a certificate (or may get one over ACME) or there is a default one. */
  get empty(): boolean {
    return this.byHost.size === 0 && this.acmeNames.length === 0 && this.defaultCertificate === null;
  }

  /**
   * hot path (per handshake) — the SecureContext for an SNI name: exact, then wildcard, then the default.
   * undefined: no certificate for it (the listener answers `unrecognized_name`).
   */
  select(servername: string, acme: AcmeCertificates | null): SecureContext | undefined {
    const name = normaliseHost(servername);
    const entry = name === null ? null : lookupHost(this, name);
    if (entry !== null) {
      if (!('acme' in entry)) return entry.context;
      const issued = acme?.contextFor(entry.acme);
      if (issued !== undefined) return issued;
    }
    return this.defaultCertificate?.context;
  }
}

/** An empty store: no TLS host, no default. */
export const NO_CERTIFICATES = new CertificateStore();

export interface LoadCertificatesOptions {
  /** The store of the table serving now: unchanged files keep their context. */
  previous: CertificateStore | null;
  /** Warnings (served anyway): one line each, naming the file. */
  warn(line: string): void;
  /** Now, ms (tests). */
  now?: number;
}

/**
 * Reads and checks every certificate of `table`. Throws RouteTableError naming the file, the route-table key
 * (`hosts["a.example.org"].tls.cert`) and the reason; `source` names the table in messages.
 */
export function loadCertificates(
  table: ValidatedRouteTable,
  options: LoadCertificatesOptions,
): CertificateStore {
  const store = new CertificateStore();
  const load = (files: ValidatedTls, names: string[]): LoadedCertificate => {
    const id = `${files.cert}\0${files.key}`;
    let loaded = store.byFiles.get(id);
    if (loaded === undefined) {
      loaded = loadPair(files, options.previous?.byFiles.get(id) ?? null, options);
      store.byFiles.set(id, loaded);
    }
    checkNames(loaded, names, files, options.warn);
    return loaded;
  };
  if (table.defaultTls !== null) store.defaultCertificate = load(table.defaultTls, []);
  for (const host of table.hosts) {
    const tls = host.tls;
    if (tls === null) continue;
    if (tls === 'acme') {
      (host.wildcard ? store.wildcards : store.exact).set(host.name, { acme: host.name });
      store.acmeNames.push(host.name);
      continue;
    }
    const loaded = load(tls, [host.wildcard ? `*.${host.name}` : host.name]);
    (host.wildcard ? store.wildcards : store.exact).set(host.name, loaded);
    store.byHost.set(host.key, loaded);
  }
  return store;
}

function readPem(file: string, key: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new RouteTableError(file, key, `cannot read the ${what} (${e.code ?? e.message})`);
  }
}

function loadPair(
  files: ValidatedTls,
  previous: LoadedCertificate | null,
  options: LoadCertificatesOptions,
): LoadedCertificate {
  const certKey = `${files.where}.cert`;
  const keyKey = `${files.where}.key`;
  const certPem = readPem(files.cert, certKey, 'certificate');
  const keyPem = readPem(files.key, keyKey, 'key');
  checkKeyMode(files.key, options.warn);
  if (previous !== null && previous.certPem === certPem && previous.keyPem === keyPem) {
    warnValidity(previous, options);
    return { ...previous, files };
  }
  if (!certPem.includes('-----BEGIN CERTIFICATE-----'))
    throw new RouteTableError(
      files.cert,
      certKey,
      'not a PEM certificate (no -----BEGIN CERTIFICATE----- block)',
    );
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (err) {
    throw new RouteTableError(files.cert, certKey, `not a valid certificate (${(err as Error).message})`);
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyPem))
    throw new RouteTableError(
      files.key,
      keyKey,
      'not a PEM private key (no -----BEGIN ... PRIVATE KEY----- block)',
    );
  if (keyPem.includes('ENCRYPTED'))
    throw new RouteTableError(
      files.key,
      keyKey,
      'the key is encrypted; nodix-proxy needs an unencrypted key',
    );
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(keyPem);
  } catch (err) {
    throw new RouteTableError(files.key, keyKey, `not a valid private key (${(err as Error).message})`);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new RouteTableError(files.key, keyKey, `the key does not match the certificate ${files.cert}`);
  }
  let context: SecureContext;
  try {
    context = createSecureContext({ ...TLS_SETTINGS, cert: certPem, key: keyPem });
  } catch (err) {
    throw new RouteTableError(files.cert, certKey, `cannot be used: ${(err as Error).message}`);
  }
  const loaded: LoadedCertificate = {
    context,
    notBefore: Math.floor(Date.parse(x509.validFrom) / 1000),
    notAfter: Math.floor(Date.parse(x509.validTo) / 1000),
    certPem,
    keyPem,
    files,
  };
  warnValidity(loaded, options);
  return loaded;
}

function warnValidity(loaded: LoadedCertificate, options: LoadCertificatesOptions): void {
  const now = (options.now ?? Date.now()) / 1000;
  const notBefore = loaded.notBefore;
  const file = loaded.files.cert;
  if (loaded.notAfter < now) {
    options.warn(
      `WARNING: certificate ${file} (${loaded.files.where}) EXPIRED on ${new Date(loaded.notAfter * 1000).toISOString()}: served anyway, clients will refuse it; renew it`,
    );
  } else if (notBefore > now) {
    options.warn(
      `WARNING: certificate ${file} (${loaded.files.where}) is not valid before ${new Date(notBefore * 1000).toISOString()}: served anyway, clients will refuse it until then (is the clock right?)`,
    );
  }
}

function checkNames(
  loaded: LoadedCertificate,
  names: string[],
  files: ValidatedTls,
  warn: (line: string) => void,
) {
  if (names.length === 0) return;
  const x509 = new X509Certificate(loaded.certPem);
  for (const name of names) {
    // A wildcard host is checked with a name it matches: `*.example.org` must cover `x.example.org`.
    const probe = name.startsWith('*.') ? `nodix-check.${name.slice(2)}` : name;
    const ip = /^\[.*\]$/.test(probe) ? probe.slice(1, -1) : /^[0-9.]+$/.test(probe) ? probe : null;
    const covered = ip !== null ? x509.checkIP(ip) !== undefined : x509.checkHost(probe) !== undefined;
    if (!covered) {
      warn(
        `WARNING: certificate ${files.cert} (${files.where}) does not name ${name}: clients will refuse it for that name`,
      );
    }
  }
}

function checkKeyMode(file: string, warn: (line: string) => void): void {
  try {
    const mode = statSync(file).mode;
    if ((mode & 0o004) !== 0) {
      warn(
        `WARNING: key ${file} is readable by every user (mode ${(mode & 0o777).toString(8)}): chmod 600 it`,
      );
    }
  } catch {
    // It was just read; a race with a replacement is the next reload's business.
  }
}

/** The certificate and key files `table` names (what a reload re-reads; watched with the routes file). */
export function certificateFiles(table: ValidatedRouteTable): string[] {
  const files = new Set<string>();
  const add = (tls: ValidatedTls | 'acme' | null) => {
    if (tls === null || tls === 'acme') return;
    files.add(tls.cert);
    files.add(tls.key);
  };
  add(table.defaultTls);
  for (const host of table.hosts) add(host.tls);
  return [...files];
}
