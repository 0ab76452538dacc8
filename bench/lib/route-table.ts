/**
 * Route tables for the proxy scenarios, in nodix-proxy's documented format. The same table feeds nodix-proxy (as
 * its routes file), the http-proxy baseline (which reads that file too) and the nginx config, so every proxy
 * routes the same hosts to the same backends.
 */
import { rename, writeFile } from 'node:fs/promises';
import type { RouteTableConfig } from '@nodix/proxy';

/** `webapp1.local`, `webapp2.local`, ...: the names the virtualhosts example uses. */
export function hostName(index: number): string {
  return `webapp${index}.local`;
}

/**
 * `hosts` virtual hosts spread round-robin over the backends: webapp1 → backend 0, webapp2 → backend 1, ... so
 * the first hosts (the ones the load names) land on distinct backends. `extraHosts` adds names that the load never
 * asks for (the reload scenario toggles one to make every rewrite a real change).
 */
export function buildRouteTable(
  hosts: number,
  backendOrigins: readonly string[],
  extraHosts: readonly string[] = [],
) {
  if (backendOrigins.length === 0) throw new Error('a route table needs at least one backend');
  const table: RouteTableConfig = { version: 1, hosts: {} };
  for (let i = 1; i <= hosts; i++) {
    table.hosts[hostName(i)] = { upstreams: [backendOrigins[(i - 1) % backendOrigins.length]!] };
  }
  for (const name of extraHosts) table.hosts[name] = { upstreams: [backendOrigins[0]!] };
  return table;
}

/**
 * Write through a temporary file and rename: a watcher never sees a half-written table (rename is atomic on one
 * file system), which is how a deployer is expected to hand a proxy its new table.
 */
export async function writeRouteTableAtomically(file: string, table: RouteTableConfig): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(table)}\n`);
  await rename(tmp, file);
}
