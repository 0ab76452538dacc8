/**
 * The HTTPS scenarios' certificate: one self-signed ECDSA P-256 certificate for every host of the setup's route
 * table, made with openssl in the scenario's temp dir, served alike by nodix-proxy and nginx.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

export interface BenchCertificate {
  cert: string;
  key: string;
}

/** Makes (once per directory and name list) the certificate for `names`. */
export function benchCertificate(dir: string, names: readonly string[]): BenchCertificate {
  const stem = join(dir, `tls-${names.length}`);
  const cert = `${stem}.crt`;
  const key = `${stem}.key`;
  if (existsSync(cert) && existsSync(key)) return { cert, key };
  // An address is named as one (wrk connects to and names 127.0.0.1), a host name as a DNS name.
  const san = names.map((name) => (isIP(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        `/CN=${names[0] ?? 'bench.local'}`,
        '-addext',
        `subjectAltName=${san}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    throw new Error(
      `openssl could not make the benchmark certificate: ${stderr || (error as Error).message}`,
    );
  }
  chmodSync(key, 0o600);
  return { cert, key };
}
