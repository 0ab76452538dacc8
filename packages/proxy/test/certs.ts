/**
 * Test certificates, made with the `openssl` command (tests for the TLS listener, ACME and HTTP/2 share it): a CA
 * and leaf certificates signed by it, RSA or ECDSA, for exact or wildcard names, valid, expired or not yet valid.
 * Everything is written into a temporary directory that the test's teardown removes.
 *
 *   const dir = certDir(t);
 *   const ca = makeCa(dir);
 *   const a = makeLeaf(ca, { names: ['a.example.test'] });            // ECDSA P-256, valid 2 days
 *   const w = makeLeaf(ca, { names: ['*.example.test'], keyType: 'rsa' });
 *   const old = makeLeaf(ca, { names: ['old.test'], validity: 'expired' });
 *   // curl --cacert ca.certFile ...; tls.connect({ ca: ca.certPem, servername: 'a.example.test' })
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

export type KeyType = 'ec' | 'rsa';

export interface Ca {
  dir: string;
  certFile: string;
  keyFile: string;
  certPem: string;
  /** The `openssl ca` configuration signing leaves. */
  configFile: string;
}

export interface Leaf {
  /** PEM certificate file (the leaf only; the CA is what clients trust). */
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
}

export interface LeafOptions {
  /** DNS names (`a.example.test`, `*.example.test`) or IP addresses; the first is also the CN. */
  names: string[];
  /** Default `ec` (P-256). */
  keyType?: KeyType;
  /** Default `valid` (from an hour ago, for 2 days). */
  validity?: 'valid' | 'expired' | 'not-yet-valid';
  /** File name stem in the CA's directory; default made from the first name and a random suffix. */
  stem?: string;
}

/** A temporary directory removed in the test's teardown. */
export function certDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'nodix-certs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim().split('\n').slice(0, 3).join(' / ')}`);
  }
}

function newKeyArgs(keyType: KeyType): string[] {
  return keyType === 'rsa'
    ? ['-newkey', 'rsa:2048']
    : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
}

/** `20260102030405Z` (what `openssl ca -startdate/-enddate` takes) for `ms` since the epoch. */
function opensslDate(ms: number): string {
  return `${new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

/** A self-signed CA in `dir`. */
export function makeCa(dir: string, keyType: KeyType = 'ec'): Ca {
  const certFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'ca.key');
  openssl([
    'req',
    '-x509',
    ...newKeyArgs(keyType),
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-subj',
    '/CN=Nodix Test CA',
    '-days',
    '30',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const configFile = join(dir, 'ca.cnf');
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), `${randomBytes(8).toString('hex')}\n`);
  writeFileSync(
    configFile,
    [
      '[ca]',
      'default_ca = test',
      '[test]',
      `database = ${join(dir, 'index.txt')}`,
      `new_certs_dir = ${dir}`,
      `serial = ${join(dir, 'serial')}`,
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      'copy_extensions = copy',
      'x509_extensions = leaf',
      '[any]',
      'commonName = supplied',
      '[leaf]',
      'basicConstraints = critical,CA:FALSE',
      'extendedKeyUsage = serverAuth',
      '',
    ].join('\n'),
  );
  return { dir, certFile, keyFile, certPem: readFileSync(certFile, 'utf8'), configFile };
}

/** A leaf certificate for `names`, signed by `ca`, written next to it. */
export function makeLeaf(ca: Ca, options: LeafOptions): Leaf {
  const keyType = options.keyType ?? 'ec';
  const first = options.names[0];
  if (first === undefined) throw new Error('makeLeaf: at least one name');
  const stem =
    options.stem ?? `${first.replace(/[^A-Za-z0-9.-]/g, '_')}-${keyType}-${randomBytes(3).toString('hex')}`;
  const keyFile = join(ca.dir, `${stem}.key`);
  const csrFile = join(ca.dir, `${stem}.csr`);
  const certFile = join(ca.dir, `${stem}.crt`);
  const san = options.names
    .map((name) => (/^[0-9.]+$|:/.test(name) ? `IP:${name}` : `DNS:${name}`))
    .join(',');
  openssl([
    'req',
    ...newKeyArgs(keyType),
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    csrFile,
    '-subj',
    `/CN=${first}`,
    '-addext',
    `subjectAltName=${san}`,
  ]);
  const now = Date.now();
  const hour = 3_600_000;
  const [start, end] =
    options.validity === 'expired'
      ? [now - 72 * hour, now - 24 * hour]
      : options.validity === 'not-yet-valid'
        ? [now + 24 * hour, now + 72 * hour]
        : [now - hour, now + 48 * hour];
  openssl([
    'ca',
    '-batch',
    '-notext',
    '-config',
    ca.configFile,
    '-cert',
    ca.certFile,
    '-keyfile',
    ca.keyFile,
    '-in',
    csrFile,
    '-out',
    certFile,
    '-startdate',
    opensslDate(start),
    '-enddate',
    opensslDate(end),
  ]);
  return {
    certFile,
    keyFile,
    certPem: readFileSync(certFile, 'utf8'),
    keyPem: readFileSync(keyFile, 'utf8'),
  };
}
