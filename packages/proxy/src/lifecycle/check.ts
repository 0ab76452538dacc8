/**
 * `nodix-proxy --check` (as `nginx -t`, `caddy validate`, `haproxy -c`): everything the proxy would read at start,
 * read and validated, nothing opened for listening. The settings themselves were loaded (and refused, one line,
 * exit 2) before this runs; here come the routes file and the access log, and a one-line summary.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { RouteTableError } from '../errors.js';
import { loadRouteTableFile } from '../route-table/load.js';
import { loadCertificates } from '../tls/certificates.js';
import { envName, formatAddress, type ProxySettings, SETTINGS } from './config.js';

export type CheckResult =
  | { ok: true; summary: string; warnings: string[] }
  | { ok: false; errors: string[]; warnings: string[] };

/** Where the settings came from, in precedence order from lowest: `defaults`, `config file F`, `environment`, `arguments`. */
export function settingsSources(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  configFile: string | undefined,
): string[] {
  const sources = ['defaults'];
  if (configFile !== undefined) sources.push(`config file ${configFile}`);
  const fromEnv = SETTINGS.filter((row) => env[envName(row)] !== undefined).map(envName);
  if (fromEnv.length > 0) sources.push(`environment (${fromEnv.join(', ')})`);
  const flags = new Set(SETTINGS.map((row) => `--${row.flag}`));
  if (argv.some((arg) => flags.has(arg.split('=')[0]!))) sources.push('arguments');
  return sources;
}

/** Checks what the settings point at; every problem is one line naming the file. Opens no port. */
export async function checkConfiguration(settings: ProxySettings, sources: string[]): Promise<CheckResult> {
  const errors: string[] = [];
  const warnings: string[] = [];
  let routes = 'no routes file (every request gets the unknown-host page)';
  if (settings.routes !== null) {
    try {
      const { table } = await loadRouteTableFile(settings.routes);
      const upstreams = new Set<string>();
      for (const host of table.hosts) {
        for (const upstream of host.upstreams) upstreams.add(upstream);
        for (const route of host.routes) for (const upstream of route.upstreams) upstreams.add(upstream);
      }
      // Certificates are checked as a TLS listener would load them, whether or not one is configured.
      const certificates = loadCertificates(table, { previous: null, warn: (line) => warnings.push(line) });
      const tls = certificates.byFiles.size + certificates.acmeNames.length;
      routes = `routes ${settings.routes}: ${plural(table.hosts.length, 'host')}, ${plural(upstreams.size, 'upstream')}${tls === 0 ? '' : `, ${plural(certificates.byFiles.size, 'certificate')}${certificates.acmeNames.length === 0 ? '' : ` + ${certificates.acmeNames.length} over ACME`}`}`;
    } catch (err) {
      if (!(err instanceof RouteTableError)) throw err;
      errors.push(err.message);
    }
  }
  const accessLog = settings.accessLog;
  if (accessLog !== null && accessLog !== '-') {
    const problem = unwritable(accessLog);
    if (problem !== null) errors.push(`access log ${accessLog}: ${problem}`);
  }
  if (errors.length > 0) return { ok: false, errors, warnings };
  const admin = settings.adminListen;
  return {
    ok: true,
    warnings,
    summary:
      `nodix-proxy: configuration OK: ${routes}; settings from ${sources.join(' + ')}; ` +
      `listen ${formatAddress(settings.listen.host, settings.listen.port)}, ` +
      (settings.listenTls === null
        ? ''
        : `TLS ${formatAddress(settings.listenTls.host, settings.listenTls.port)}, `) +
      `admin ${admin === null ? 'off' : formatAddress(admin.host, admin.port)}, ` +
      `${plural(settings.workers, 'worker')}, access log ${accessLog === '-' ? 'standard output' : (accessLog ?? 'off')}`,
  };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Why the proxy could not append to `file` (null: it could), without creating or touching it. */
function unwritable(file: string): string | null {
  try {
    if (statSync(file).isDirectory()) return 'is a directory';
    accessSync(file, constants.W_OK);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') return `cannot be written (${code})`;
  }
  try {
    accessSync(dirname(file), constants.W_OK);
    return null;
  } catch (err) {
    return `cannot be created in ${dirname(file)} (${(err as NodeJS.ErrnoException).code})`;
  }
}
