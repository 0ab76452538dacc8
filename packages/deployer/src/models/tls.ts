import { ModelError } from '../errors.js';
import { describeValue, isPort, isRecord } from './describe.js';

/**
 * HTTPS in the models (issue 11). A virtual host (a service with a `dnsName`) may say how the proxies routing to it
 * serve it over TLS; these keys go into every such proxy's route table, in the proxy's format, and NOT into the
 * service's own configuration: a web app does not restart because its certificate changed.
 */
export const VIRTUAL_HOST_TLS_KEYS = ['tls', 'redirectHttps', 'hsts'] as const;

/** PEM files on the target machine; the route table's own types (the deployer writes the proxy's format). */
export type { TlsFiles } from '@nodix/proxy';

/** Where a proxy listens for TLS when neither it (`tlsPort`) nor its target (`proxyTlsPort`) says. */
export const DEFAULT_PROXY_TLS_PORT = 443;

function checkAbsolutePath(value: unknown, file: string, key: string, what: string): void {
  if (typeof value !== 'string' || !value.startsWith('/')) {
    throw new ModelError(
      file,
      key,
      `must be an absolute path of ${what} on the target, got ${describeValue(value)}`,
    );
  }
}

/** `{ cert, key }`: two absolute paths of PEM files on the target, nothing else. */
export function checkTlsFiles(value: unknown, file: string, key: string): void {
  if (!isRecord(value)) {
    throw new ModelError(
      file,
      key,
      `must be { cert, key } (PEM files on the target), got ${describeValue(value)}`,
    );
  }
  for (const field of Object.keys(value)) {
    if (field !== 'cert' && field !== 'key') {
      throw new ModelError(file, `${key}.${field}`, 'is not a certificate setting (known: cert, key)');
    }
  }
  checkAbsolutePath(value.cert, file, `${key}.cert`, 'a PEM certificate (chain)');
  checkAbsolutePath(value.key, file, `${key}.key`, 'a PEM private key');
}

/**
 * `tls`, `redirectHttps` and `hsts` of one service. Only a virtual host can have them, and the last two only with a
 * certificate: a redirect to an https URL nobody serves, or an HSTS header never sent, is a mistake to report.
 */
export function checkVirtualHostTls(service: Record<string, unknown>, name: string, file: string): void {
  const { tls, redirectHttps, hsts, dnsName } = service;
  const given = VIRTUAL_HOST_TLS_KEYS.filter((key) => service[key] !== undefined);
  if (given.length === 0) return;
  if (dnsName === undefined) {
    throw new ModelError(
      file,
      `${name}.${given[0]}`,
      'only a virtual host (a service with a dnsName) is served over TLS by the proxies',
    );
  }
  if (tls !== undefined && tls !== 'acme') {
    if (typeof tls === 'string' || !isRecord(tls)) {
      throw new ModelError(
        file,
        `${name}.tls`,
        `must be 'acme' or { cert, key } (PEM files on the target), got ${describeValue(tls)}`,
      );
    }
    checkTlsFiles(tls, file, `${name}.tls`);
  }
  if (tls === 'acme' && typeof dnsName === 'string' && dnsName.startsWith('*.')) {
    throw new ModelError(
      file,
      `${name}.tls`,
      `'acme' cannot serve the wildcard dnsName '${dnsName}' (ACME issues wildcard certificates only over DNS-01); give { cert, key } files`,
    );
  }
  if (redirectHttps !== undefined) {
    if (typeof redirectHttps !== 'boolean') {
      throw new ModelError(
        file,
        `${name}.redirectHttps`,
        `must be true or false, got ${describeValue(redirectHttps)}`,
      );
    }
    if (redirectHttps && tls === undefined) {
      throw new ModelError(
        file,
        `${name}.redirectHttps`,
        'needs tls: nothing would serve the https URL it redirects to',
      );
    }
  }
  if (hsts !== undefined) checkHsts(hsts, tls !== undefined, file, `${name}.hsts`);
}

const MAX_HSTS_AGE = 2_147_483_647;

function checkHsts(hsts: unknown, hasTls: boolean, file: string, key: string): void {
  if (!isRecord(hsts)) {
    throw new ModelError(
      file,
      key,
      `must be { maxAge, includeSubDomains?, preload? }, got ${describeValue(hsts)}`,
    );
  }
  if (!hasTls) throw new ModelError(file, key, 'needs tls: browsers take the header only over HTTPS');
  for (const field of Object.keys(hsts)) {
    if (field !== 'maxAge' && field !== 'includeSubDomains' && field !== 'preload') {
      throw new ModelError(
        file,
        `${key}.${field}`,
        'is not an HSTS setting (known: maxAge, includeSubDomains, preload)',
      );
    }
  }
  const { maxAge } = hsts;
  // The proxy's bound too (packages/proxy/src/route-table/validate.ts): a 32-bit max-age, as browsers read it.
  if (typeof maxAge !== 'number' || !Number.isInteger(maxAge) || maxAge < 0 || maxAge > MAX_HSTS_AGE) {
    throw new ModelError(
      file,
      `${key}.maxAge`,
      `must be a whole number of seconds from 0 to ${MAX_HSTS_AGE}, got ${describeValue(maxAge)}`,
    );
  }
  for (const field of ['includeSubDomains', 'preload'] as const) {
    if (hsts[field] !== undefined && typeof hsts[field] !== 'boolean') {
      throw new ModelError(
        file,
        `${key}.${field}`,
        `must be true or false, got ${describeValue(hsts[field])}`,
      );
    }
  }
}

/** A proxy's own TLS settings: `tlsPort` and `defaultTls` (the certificate for names no host has). */
export function checkProxyTls(service: Record<string, unknown>, name: string, file: string): void {
  const { tlsPort, defaultTls, type } = service;
  if (type !== 'proxy') {
    const given = tlsPort !== undefined ? 'tlsPort' : defaultTls !== undefined ? 'defaultTls' : undefined;
    if (given !== undefined) {
      throw new ModelError(
        file,
        `${name}.${given}`,
        `is a proxy setting, but '${name}' is a ${String(type)}`,
      );
    }
    return;
  }
  if (tlsPort !== undefined && !isPort(tlsPort)) {
    throw new ModelError(
      file,
      `${name}.tlsPort`,
      `must be a port number (1-65535), got ${describeValue(tlsPort)}`,
    );
  }
  if (defaultTls !== undefined) checkTlsFiles(defaultTls, file, `${name}.defaultTls`);
}

/** The ACME settings a target gives its proxy: `acmeDirectory` (https URL), `acmeEmail`, `acmeCa` (a file). */
export function checkTargetAcme(properties: Record<string, unknown>, target: string, file: string): void {
  const key = (property: string) => `${target}.properties.${property}`;
  const { acmeDirectory, acmeEmail, acmeCa } = properties;
  if (acmeDirectory !== undefined && !isHttpsUrl(acmeDirectory)) {
    throw new ModelError(
      file,
      key('acmeDirectory'),
      `must be the https:// URL of an ACME directory, got ${describeValue(acmeDirectory)}`,
    );
  }
  if (acmeEmail !== undefined && (typeof acmeEmail !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(acmeEmail))) {
    throw new ModelError(file, key('acmeEmail'), `must be an email address, got ${describeValue(acmeEmail)}`);
  }
  if (acmeCa !== undefined) checkAbsolutePath(acmeCa, file, key('acmeCa'), 'a PEM CA certificate');
}

function isHttpsUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    return new URL(value).protocol === 'https:';
  } catch {
    return false;
  }
}
