/**
 * Running the nginx baseline: find Debian's nginx, write the generated config into the scenario's temp dir and
 * start it in the foreground (`daemon off`) with that dir as its prefix, so it touches no root-owned path.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { RouteTableConfig } from '@nodix/proxy';
import { buildNginxConfig } from './nginx-config.js';
import type { Pinning } from './pinning.js';
import { type RunningProcess, startProcess } from './processes.js';

export const NGINX_MISSING =
  "nginx is not installed: the nginx baseline needs Debian's nginx (`apt-get install nginx`; the harness installs nothing itself)";

/** nginx's path, or undefined. /usr/sbin is checked by hand because it is often not in a user's PATH. */
export function findNginx(): string | undefined {
  for (const candidate of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']) {
    if (existsSync(candidate)) return candidate;
  }
  const which = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  const path = which.stdout?.trim();
  return which.status === 0 && path ? path : undefined;
}

/**
 * A free port on 127.0.0.1 for nginx, which cannot listen on port 0 and report back. Another process could take
 * it before nginx binds; then nginx fails to start with "address in use" in its output and the scenario errors.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export async function startNginx(
  dir: string,
  routes: RouteTableConfig,
  pinning: Pinning,
  maxConnections?: number,
  tls?: { cert: string; key: string },
  http2 = false,
): Promise<{ proc: RunningProcess; port: number }> {
  const nginx = findNginx();
  if (!nginx) throw new Error(NGINX_MISSING);
  const nginxDir = join(dir, 'nginx');
  await mkdir(nginxDir, { recursive: true });
  const port = await freePort();
  const confFile = join(nginxDir, 'nginx.conf');
  await writeFile(
    confFile,
    buildNginxConfig({
      dir: nginxDir,
      listenPort: port,
      routes,
      ...(maxConnections ? { maxConnections } : {}),
      ...(tls ? { tls, http2 } : {}),
    }),
  );
  const proc = await startProcess({
    label: 'nginx',
    command: nginx,
    // -e: error log before the config is read (else nginx opens /var/log/nginx/error.log first).
    args: ['-p', nginxDir, '-c', confFile, '-e', join(nginxDir, 'error.log')],
    prefix: pinning.serverPrefix,
    ready: { port },
  });
  return { proc, port };
}
