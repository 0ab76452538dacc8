/**
 * Starting one compared setup of an HTTP scenario: the server (or nothing, for `direct`), where to send the load,
 * which process trees to measure, and what to run alongside the load (reloads).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RouteTableConfig } from '@nodix/proxy';
import type { SetupSpec } from '../scenarios/types.js';
import { startNginx } from './nginx.js';
import type { Pinning } from './pinning.js';
import { type RunningProcess, startProcess } from './processes.js';
import { buildRouteTable, writeRouteTableAtomically } from './route-table.js';
import { type BenchCertificate, benchCertificate } from './tls-cert.js';

export type { BenchCertificate };

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const serversDir = fileURLToPath(new URL('../servers/', import.meta.url));

export interface Backend {
  name: string;
  origin: string;
  proc: RunningProcess;
}

export interface SetupContext {
  /** The scenario's temp dir (route files, nginx prefix). */
  dir: string;
  pinning: Pinning;
  backends: Backend[];
  /** Connections a server must be able to hold at once (nginx's `worker_connections`); default: nginx's 4096. */
  maxConnections?: number;
  /** HTTPS scenarios: the certificate every setup serves (makeBenchCertificate). */
  tls?: BenchCertificate;
}

/**
 * The HTTPS scenarios' certificate: self-signed ECDSA P-256 (what a current certificate is) for 127.0.0.1, the
 * address wrk connects to and names in SNI and Host.
 */
export function makeBenchCertificate(dir: string): BenchCertificate {
  return benchCertificate(dir, ['127.0.0.1']);
}

/** The HTTPS scenarios' route table: 127.0.0.1 (the name wrk sends) to the first backend, over TLS. */
function httpsRouteTable(backend: Backend, tls: BenchCertificate): RouteTableConfig {
  return { version: 1, hosts: { '127.0.0.1': { upstreams: [backend.origin], tls } }, defaultTls: tls };
}

export interface StartedSetup {
  /** Where the load goes (always 127.0.0.1). */
  url: string;
  /** Roots of the process trees whose CPU and memory are reported. */
  measuredPids: number[];
  /** The setup's own server, checked for life after every load. */
  proc: RunningProcess | undefined;
  /** What ran, for the report. */
  description: string;
  notes: string[];
  /** Started when a measured load starts; the returned function stops it. */
  during?: () => () => Promise<void>;
}

/** The bins run from their compiled `dist`; a missing build is a clear message, not a module-not-found trace. */
function requireBuilt(pkg: string, bin: string): string {
  const dist = join(repoRoot, 'packages', pkg, 'dist', 'bin.js');
  if (!existsSync(dist))
    throw new Error(`packages/${pkg} is not built (${dist} missing): run \`npm run build\` first`);
  return join(repoRoot, 'packages', pkg, 'bin', bin);
}

/** `node ARGS` pinned to the servers' core, ready when it prints `listening on 127.0.0.1:PORT`. */
function startNodeServer(label: string, args: string[], pinning: Pinning): Promise<RunningProcess> {
  return startProcess({
    label,
    command: process.execPath,
    args,
    prefix: pinning.serverPrefix,
    ready: { line: /listening on 127\.0\.0\.1:(\d+)$/ },
  });
}

export async function startBareHttp(
  name: string,
  pinning: Pinning,
  readBody: boolean,
): Promise<RunningProcess> {
  const args = [join(serversDir, 'bare-http.mjs'), '--name', name, '--port', '0', '--host', '127.0.0.1'];
  return startNodeServer(`bare-http ${name}`, readBody ? [...args, '--read-body'] : args, pinning);
}

/**
 * The bare node:http backends (`--read-body`) of a proxy scenario, pushed onto `into` as each becomes ready, so
 * the caller stops the ones that started even when a later one fails.
 */
export async function startBackends(
  names: readonly string[],
  pinning: Pinning,
  into: Backend[],
): Promise<void> {
  for (const name of names) {
    const proc = await startBareHttp(name, pinning, true);
    into.push({ name, origin: `http://127.0.0.1:${proc.readyMatch[1]}`, proc });
  }
}

function portOf(proc: RunningProcess): number {
  return Number(proc.readyMatch[1]);
}

function commandLine(proc: RunningProcess, shown: string): string {
  return `${shown} (pid ${proc.pid})`;
}

/** The setup of a server of its own whose ready line named its port; `shown` is its command line as reported. */
function served(proc: RunningProcess, shown: string, notes: string[]): StartedSetup {
  return {
    url: `http://127.0.0.1:${portOf(proc)}/`,
    measuredPids: [proc.pid],
    proc,
    description: commandLine(proc, shown),
    notes,
  };
}

/** `nodix_proxy_config_reloads_total{result="success"}` and `failure` from the proxy's admin /metrics. */
async function reloadCounts(adminOrigin: string): Promise<{ success: number; failure: number }> {
  const text = await (await fetch(`${adminOrigin}/metrics`)).text();
  const count = (result: string) => {
    const match = new RegExp(`^nodix_proxy_config_reloads_total\\{result="${result}"\\} (\\S+)$`, 'm').exec(
      text,
    );
    return match ? Number(match[1]) : 0;
  };
  return { success: count('success'), failure: count('failure') };
}

/**
 * The reload loop of the reload scenario: rewrite the routes file with a real change (a host that comes and
 * goes), then SIGHUP, every `everyMs`, until stopped. Awaited one at a time so writes never overlap. Every table
 * written is valid, so a reload the proxy rejects (its admin metrics say) is an error of the scenario.
 */
function reloadLoop(
  file: string,
  base: RouteTableConfig,
  proc: RunningProcess,
  adminOrigin: string,
  everyMs: number,
  notes: string[],
) {
  const upstreams = [...(Object.values(base.hosts)[0]?.upstreams ?? [])];
  return () => {
    let stopped = false;
    let rewrites = 0;
    const before = reloadCounts(adminOrigin);
    // Handled here so a failed scrape is reported when awaited below, not as an unhandled rejection meanwhile.
    before.catch(() => {});
    const loop = (async () => {
      while (!stopped) {
        rewrites++;
        const table: RouteTableConfig =
          rewrites % 2 === 0
            ? base
            : { ...base, hosts: { ...base.hosts, [`reload-${rewrites}.local`]: { upstreams } } };
        await writeRouteTableAtomically(file, table);
        proc.signal('SIGHUP');
        await new Promise((resolve) => setTimeout(resolve, everyMs));
      }
    })();
    return async () => {
      stopped = true;
      await loop;
      // Leave the file as the proxy started with it, for the next round.
      await writeRouteTableAtomically(file, base);
      const start = await before;
      const end = await reloadCounts(adminOrigin);
      const applied = end.success - start.success;
      const rejected = end.failure - start.failure;
      notes.push(
        `${rewrites} route-table rewrites + SIGHUP in one load; the proxy applied ${applied} reloads, rejected ${rejected}`,
      );
      if (rejected > 0)
        throw new Error(`nodix-proxy rejected ${rejected} valid route table(s) during the load`);
    };
  };
}

export async function startSetup(spec: SetupSpec, index: number, ctx: SetupContext): Promise<StartedSetup> {
  const { pinning, backends } = ctx;
  const notes: string[] = [];
  const routes = () => {
    if (ctx.tls !== undefined) {
      const backend = backends[0];
      if (!backend) throw new Error('an HTTPS scenario needs a backend');
      notes.push('route table: 127.0.0.1 over TLS to the first backend');
      return httpsRouteTable(backend, ctx.tls);
    }
    const hosts = spec.routeHosts ?? 4;
    notes.push(`route table: ${hosts} hosts over ${backends.length} backend(s)`);
    return buildRouteTable(
      hosts,
      backends.map((b) => b.origin),
    );
  };
  const server = spec.server;
  /** The certificate for every host of `table` (spec.tls), and the table with it on every host. */
  const withTls = (table: RouteTableConfig) => {
    const tls = benchCertificate(ctx.dir, Object.keys(table.hosts));
    notes.push('HTTPS: one ECDSA P-256 certificate for every host, TLS 1.2/1.3, ALPN h2 and http/1.1');
    const hosts = Object.fromEntries(
      Object.entries(table.hosts).map(([name, host]) => [name, { ...host, tls }]),
    );
    return { tls, table: { ...table, hosts } };
  };
  if (spec.tls && server.kind !== 'nginx' && server.kind !== 'nodix-proxy')
    throw new Error(`${spec.name}: only nginx and nodix-proxy setups serve HTTPS`);
  switch (server.kind) {
    case 'direct': {
      const backend = backends[0];
      if (!backend) throw new Error('direct needs a backend in the scenario');
      return {
        url: `${backend.origin}/`,
        measuredPids: [backend.proc.pid],
        proc: backend.proc,
        description: `load straight at backend ${backend.name} (${backend.origin})`,
        notes,
      };
    }
    case 'bare-http': {
      const proc = await startBareHttp(server.name, pinning, false);
      return served(proc, `node bench/servers/bare-http.mjs --name ${server.name}`, notes);
    }
    case 'nodix-webapp': {
      const bin = requireBuilt('webapp', 'nodix-webapp.js');
      const args = [bin, '--name', server.name, '--port', '0', '--host', '127.0.0.1'];
      const proc = await startNodeServer('nodix-webapp', args, pinning);
      return served(proc, `nodix-webapp --name ${server.name} --port 0 --host 127.0.0.1`, notes);
    }
    case 'nginx': {
      const plain = routes();
      const tls = ctx.tls ?? (spec.tls ? withTls(plain).tls : undefined);
      // spec.tls (proxy-h2): HTTP/2 by ALPN beside HTTP/1.1, as nodix-proxy's TLS listener offers.
      const { proc, port } = await startNginx(
        ctx.dir,
        plain,
        pinning,
        ctx.maxConnections,
        tls,
        spec.tls === true,
      );
      return {
        url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}/`,
        measuredPids: [proc.pid],
        proc,
        description: commandLine(
          proc,
          `nginx, 1 worker, upstream keepalive${tls ? `, ssl${spec.tls ? ' http2' : ''} (TLS 1.2/1.3, the same ciphers, session cache and tickets off)` : ''} (config: bench/lib/nginx-config.ts)`,
        ),
        notes,
      };
    }
    case 'tcp-relay': {
      const backend = backends[0];
      if (!backend) throw new Error('tcp-relay needs a backend in the scenario');
      const args = [join(serversDir, 'tcp-relay.mjs'), '--upstream', backend.origin, '--port', '0'];
      const proc = await startNodeServer('tcp-relay', args, pinning);
      return served(proc, `node TCP relay to ${backend.name}, no HTTP (bench/servers/tcp-relay.mjs)`, notes);
    }
    case 'http-proxy': {
      const file = join(ctx.dir, `routes-${index}.json`);
      await writeRouteTableAtomically(file, routes());
      const args = [join(serversDir, 'http-proxy.mjs'), '--routes', file, '--port', '0'];
      const proc = await startNodeServer('http-proxy', args, pinning);
      return served(proc, 'http-proxy 1.18.1, keep-alive agent (bench/servers/http-proxy.mjs)', notes);
    }
    case 'nodix-proxy': {
      const bin = requireBuilt('proxy', 'nodix-proxy.js');
      const file = join(ctx.dir, `routes-${index}.json`);
      const table = spec.tls ? withTls(routes()).table : routes();
      await writeRouteTableAtomically(file, table);
      // HTTPS: the TLS listener, session resumption off as in nginx's config.
      const tlsArgs =
        ctx.tls || spec.tls ? ['--listen-tls', '127.0.0.1:0', '--tls-session-resumption', 'false'] : [];
      const extra = [...tlsArgs, ...(spec.proxyArgs ?? [])];
      if (extra.length > 0) notes.push(`nodix-proxy ${extra.join(' ')}`);
      const proc = await startProcess({
        label: spec.name,
        command: process.execPath,
        args: [bin, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--routes', file, ...extra],
        prefix: pinning.serverPrefix,
        ready: {
          line: /nodix-proxy listening on 127\.0\.0\.1:(\d+) \(admin 127\.0\.0\.1:(\d+)\)(?:, TLS on 127\.0\.0\.1:(\d+))?/,
        },
        // A 10 000-host table is parsed and validated before the proxy says it is ready.
        readyTimeoutMs: 60_000,
      });
      const shown = `nodix-proxy --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --routes FILE${extra.length > 0 ? ` ${extra.join(' ')}` : ''}`;
      const tlsPort = proc.readyMatch[3];
      return {
        ...served(proc, shown, notes),
        ...(tlsPort !== undefined ? { url: `https://127.0.0.1:${tlsPort}/` } : {}),
        ...(spec.reloadEveryMs
          ? {
              during: reloadLoop(
                file,
                table,
                proc,
                `http://127.0.0.1:${proc.readyMatch[2]}`,
                spec.reloadEveryMs,
                notes,
              ),
            }
          : {}),
      };
    }
  }
}
