import { request } from 'node:http';
import { join } from 'node:path';
import type { ServiceInstance } from '../../plan/types.js';
import { writeFileAtomic } from '../atomic-file.js';
import { formatHostPort } from '../readiness.js';
import { checkOptionalHost, checkPort, checkString, isRecord } from '../validate.js';
import { resolvePackageBin } from './bins.js';
import { type ActivationModule, canonicalJson, listenHost } from './types.js';

export const ROUTES_FILE = 'routes.json';

/** The proxy's ACME state (account key, certificates, renewal), kept in its service directory across restarts. */
export const ACME_DIR = 'acme';

/** `config.acme`: the target's ACME settings, each one optional (the proxy has defaults). */
function checkAcme(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) return 'service.config.acme: must be an object';
  for (const [key, setting] of Object.entries(value)) {
    if (key !== 'directory' && key !== 'email' && key !== 'ca') {
      return `service.config.acme.${key}: not an ACME setting (directory, email, ca)`;
    }
    const problem = checkString(setting, `service.config.acme.${key}`);
    if (problem) return problem;
  }
  return undefined;
}

/** `--listen-tls` and `--acme-*` for a proxy that serves TLS (config `tlsPort`) or uses ACME (config `acme`). */
function tlsArgs(instance: ServiceInstance, host: string, serviceDir: string): string[] {
  const { tlsPort, acme } = instance.config;
  const args = typeof tlsPort === 'number' ? ['--listen-tls', formatHostPort(host, tlsPort)] : [];
  if (isRecord(acme)) {
    args.push('--acme-dir', join(serviceDir, ACME_DIR));
    for (const [key, flag] of [
      ['directory', '--acme-directory'],
      ['email', '--acme-email'],
      ['ca', '--acme-ca'],
    ] as const) {
      if (typeof acme[key] === 'string') args.push(flag, acme[key]);
    }
  }
  return args;
}

/**
 * Node options the proxy is started with (it runs as `node <bin>`, so they can be given). A young generation capped
 * at 2 MB semispaces keeps a busy proxy's RSS down; the bin also steers V8's semispace growth factor towards that,
 * but newer V8 no longer honours the factor as a cap, while this flag, read at start, works on every Node from 20
 * on (and the bin leaves the young generation alone when it is given: packages/proxy/src/lifecycle/v8-settings.ts).
 */
export const PROXY_NODE_ARGS: readonly string[] = ['--max-semi-space-size=2'];

/** The route table of a proxy instance: the manifest's `routes`, or `config.routes` in a hand-written manifest. */
function routesOf(instance: ServiceInstance): unknown {
  return instance.routes ?? instance.config.routes;
}

/** Everything but the route table: when only the table differs, the running proxy reloads instead of restarting. */
function withoutRoutes(instance: ServiceInstance): unknown {
  const { routes: _routes, ...config } = instance.config;
  return { name: instance.name, type: instance.type, config };
}

function adminPortOf(runtime: Record<string, unknown>): number | undefined {
  return typeof runtime.adminPort === 'number' ? runtime.adminPort : undefined;
}

/** Asks the running proxy to reload its route table and waits for its verdict (an invalid table is refused). */
function postReload(port: number, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/reload',
        timeout: timeoutMs,
        // The proxy's admin listener refuses state changes without it (a browser cannot send it cross-site).
        headers: { 'x-nodix-admin': '1' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => {
          if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) resolve();
          else
            reject(
              new Error(`the proxy refused the new route table (HTTP ${res.statusCode}): ${body.trim()}`),
            );
        });
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error(`the proxy's admin listener did not answer in ${timeoutMs} ms`)),
    );
    req.on('error', reject);
    req.end();
  });
}

/**
 * `type: 'proxy'`: runs nodix-proxy with the instance's route table in `<service-dir>/routes.json`; with config
 * `tlsPort` also a TLS listener on the same address, with config `acme` an ACME client whose state is kept in
 * `<service-dir>/acme`. Certificates come with the route table (per host `tls`), so changing them is a reload. Its admin
 * listener is bound to loopback only (config `adminPort`, else a port the proxy picks and prints, kept in the state),
 * so the agent can ask it to reload and hear whether the new table was taken.
 */
export const proxyModule: ActivationModule = {
  type: 'proxy',
  check(instance) {
    const routes = routesOf(instance);
    if (!isRecord(routes)) return 'service.routes: a proxy needs its route table (routes or config.routes)';
    if (routes.version !== 1) return 'service.routes.version: must be 1';
    if (!isRecord(routes.hosts)) return 'service.routes.hosts: must be an object';
    return (
      checkPort(instance.config.port, 'service.config.port') ??
      (instance.config.adminPort === undefined
        ? undefined
        : checkPort(instance.config.adminPort, 'service.config.adminPort')) ??
      (instance.config.tlsPort === undefined
        ? undefined
        : checkPort(instance.config.tlsPort, 'service.config.tlsPort')) ??
      checkAcme(instance.config.acme) ??
      checkOptionalHost(instance)
    );
  },
  port(instance) {
    return instance.config.port as number;
  },
  async prepare(instance, context) {
    // Port 0 unless the config names one: the proxy binds a free port itself and names it in its ready line, so no
    // other process can take the port between choosing and binding it.
    context.runtime.adminPort = typeof instance.config.adminPort === 'number' ? instance.config.adminPort : 0;
    await writeFileAtomic(
      join(context.serviceDir, ROUTES_FILE),
      `${JSON.stringify(routesOf(instance), null, 2)}\n`,
    );
  },
  launch(instance, context) {
    const host = listenHost(instance, context);
    const port = instance.config.port as number;
    const adminPort = adminPortOf(context.runtime) as number;
    const tlsPort = instance.config.tlsPort;
    return {
      command: process.execPath,
      args: [
        ...PROXY_NODE_ARGS,
        resolvePackageBin('@nodix/proxy', 'nodix-proxy'),
        '--listen',
        formatHostPort(host, port),
        '--admin-listen',
        formatHostPort('127.0.0.1', adminPort),
        '--routes',
        join(context.serviceDir, ROUTES_FILE),
        ...tlsArgs(instance, host, context.serviceDir),
      ],
      env: { NODIX_SERVICE: instance.name },
      listens: [
        { host, port },
        ...(typeof tlsPort === 'number' ? [{ host, port: tlsPort }] : []),
        ...(adminPort === 0 ? [] : [{ host: '127.0.0.1', port: adminPort }]),
      ],
      readyLine: /nodix-proxy listening on \S+ \(admin (\S+)\)/,
    };
  },
  onReady(match, context) {
    const port = Number(/:(\d+)$/.exec(match[1] ?? '')?.[1]);
    if (Number.isInteger(port) && port > 0) context.runtime.adminPort = port;
  },
  canUpdate(current, next) {
    return canonicalJson(withoutRoutes(current)) === canonicalJson(withoutRoutes(next));
  },
  async update(next, context, pid) {
    // Atomic rename: the proxy, which also watches the file, never reads half a table.
    await writeFileAtomic(
      join(context.serviceDir, ROUTES_FILE),
      `${JSON.stringify(routesOf(next), null, 2)}\n`,
    );
    const adminPort = adminPortOf(context.runtime);
    if (adminPort !== undefined && adminPort > 0) {
      await postReload(adminPort);
      return;
    }
    // A proxy adopted from a state without an admin port: SIGHUP is its other documented way to reload.
    process.kill(pid, 'SIGHUP');
  },
};
