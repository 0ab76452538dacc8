/**
 * The ACME state directory (`--acme-dir`): what survives a restart, so a restarted proxy neither orders a
 * certificate it already has nor retries a failing order sooner than its backoff allows.
 *
 *   <dir>/                      0700
 *     account.key               0600  the account's private key (PEM)
 *     account.json              0600  { "directory": URL, "url": account URL }
 *     certs/<name>/             0700
 *       key.pem                 0600  the certificate's private key
 *       cert.pem                0600  the certificate and its chain, as the CA sent them
 *       state.json              0600  { "failures": N, "nextAttemptAt": ms, "lastError": "..." } while failing
 *
 * Every file is written whole to a temporary name in the same directory (created 0600), flushed, then renamed
 * over the old one: a crash leaves either the old file or the new one, never half of one.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

export interface AccountState {
  directory: string;
  url: string;
}

export interface RetryState {
  /** Orders failed in a row. */
  failures: number;
  /** No new order before this time (ms since the epoch). */
  nextAttemptAt: number;
  lastError: string;
}

/** Creates `dir` (and parents) with mode 0700. */
export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Writes `data` to `file` atomically, mode 0600 (see the file comment). */
export function writeFileAtomic(file: string, data: string): void {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** The file's text, or null when it does not exist. */
export function readOptional(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export class AcmeState {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates the directory tree (0700). */
  init(): void {
    ensureDir(this.dir);
    ensureDir(join(this.dir, 'certs'));
  }

  accountKey(): string | null {
    return readOptional(join(this.dir, 'account.key'));
  }

  saveAccountKey(pem: string): void {
    writeFileAtomic(join(this.dir, 'account.key'), pem);
  }

  account(): AccountState | null {
    const text = readOptional(join(this.dir, 'account.json'));
    if (text === null) return null;
    try {
      const value = JSON.parse(text) as AccountState;
      return typeof value.url === 'string' && typeof value.directory === 'string' ? value : null;
    } catch {
      return null;
    }
  }

  saveAccount(account: AccountState): void {
    writeFileAtomic(join(this.dir, 'account.json'), `${JSON.stringify(account, null, 2)}\n`);
  }

  #nameDir(name: string): string {
    return join(this.dir, 'certs', name);
  }

  /** The stored key and certificate chain of `name`, or null. */
  certificate(name: string): { key: string; cert: string } | null {
    const key = readOptional(join(this.#nameDir(name), 'key.pem'));
    const cert = readOptional(join(this.#nameDir(name), 'cert.pem'));
    return key === null || cert === null ? null : { key, cert };
  }

  /** Stores a new key and certificate (the key first: a crash between the two leaves a mismatch the loader refuses). */
  saveCertificate(name: string, key: string, cert: string): void {
    const dir = this.#nameDir(name);
    ensureDir(dir);
    writeFileAtomic(join(dir, 'key.pem'), key);
    writeFileAtomic(join(dir, 'cert.pem'), cert);
  }

  retry(name: string): RetryState | null {
    const text = readOptional(join(this.#nameDir(name), 'state.json'));
    if (text === null) return null;
    try {
      const value = JSON.parse(text) as RetryState;
      return Number.isFinite(value.failures) && Number.isFinite(value.nextAttemptAt) ? value : null;
    } catch {
      return null;
    }
  }

  saveRetry(name: string, retry: RetryState | null): void {
    const dir = this.#nameDir(name);
    if (retry === null) {
      rmSync(join(dir, 'state.json'), { force: true });
      return;
    }
    ensureDir(dir);
    writeFileAtomic(join(dir, 'state.json'), `${JSON.stringify(retry)}\n`);
  }
}
