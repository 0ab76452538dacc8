/**
 * The models the deploy scenario deploys, written once into its temp dir before anything is timed: the example's
 * services-dynamic.ts (count N) and qos.ts give the distribution, port-assign the ports (both through the deployer
 * library, as `nodix gendist` and `nodix port-assign` would), an infrastructure of loopback targets on ports checked
 * free, and a services model that changes one webapp. From the same manifest `nodix deploy` builds come the
 * command lines of the "direct" setup: the very processes the agents start, started by the harness itself.
 */
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import {
  distributionToJson,
  type Manifest,
  planDistribution,
  planManifest,
  planPorts,
} from '@nodix/deployer';
import { repoRoot } from './setups.js';

export const exampleDir = join(repoRoot, 'examples', 'virtualhosts');
export const nodixBin = join(repoRoot, 'packages', 'deployer', 'bin', 'nodix.js');
const webappBin = join(repoRoot, 'packages', 'webapp', 'bin', 'nodix-webapp.js');
const proxyBin = join(repoRoot, 'packages', 'proxy', 'bin', 'nodix-proxy.js');

/** Ports below the kernel's ephemeral range (32768+) are chosen by us, so each is checked free first. */
const WINDOW_MIN = 20_000;
const WINDOW_MAX = 32_000;

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** `count` consecutive ports on 127.0.0.1 that nothing holds now; the first of them. */
export async function reservePortWindow(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = WINDOW_MIN + Math.floor(Math.random() * (WINDOW_MAX - WINDOW_MIN - count));
    let free = true;
    for (let port = base; port < base + count && free; port++) free = await canBind(port);
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports between ${WINDOW_MIN} and ${WINDOW_MAX} on 127.0.0.1`);
}

export interface TargetPorts {
  agentPort: number;
  proxyPort: number;
}

export interface DeployModels {
  /** `-s -i -d -p --extra-params` of `nodix deploy`, absolute paths. */
  deployArgs: string[];
  /** The same with the services model that changes `changedWebapp`. */
  changedArgs: string[];
  changedWebapp: string;
  manifest: Manifest;
  /** Where each target's agent and proxy listen. */
  targets: Record<string, TargetPorts>;
}

/**
 * Writes the infrastructure (JSON), the distribution (gendist with qos.ts), the ports (port-assign over a shared
 * range of exactly `webapps` free ports) and the changed services model into `dir`.
 */
export async function writeDeployModels(
  dir: string,
  options: {
    webapps: number;
    targets: string[];
    /** A target's properties other than its capacity; default: on loopback, its agent and proxy on `ports`. */
    properties?: (target: string, ports: TargetPorts) => Record<string, unknown>;
  },
): Promise<DeployModels> {
  const { webapps, targets } = options;
  const base = await reservePortWindow(webapps + 2 * targets.length);
  const ports: Record<string, TargetPorts> = {};
  const infrastructure: Record<string, { properties: Record<string, unknown> }> = {};
  targets.forEach((target, i) => {
    ports[target] = { agentPort: base + webapps + 2 * i, proxyPort: base + webapps + 2 * i + 1 };
    const own = options.properties?.(target, ports[target]) ?? {
      hostname: '127.0.0.1',
      ...ports[target],
      bindHost: '127.0.0.1',
    };
    infrastructure[target] = { properties: { capacity: Math.ceil(webapps / targets.length), ...own } };
  });
  const files = {
    services: join(exampleDir, 'services-dynamic.ts'),
    qos: join(exampleDir, 'qos.ts'),
    infrastructure: join(dir, 'infrastructure.json'),
    distribution: join(dir, 'distribution.json'),
    ports: join(dir, 'ports.json'),
    changed: join(dir, 'services-changed.mts'),
  };
  const extraParams = { count: webapps };
  await writeFile(files.infrastructure, `${JSON.stringify(infrastructure, null, 2)}\n`);

  const { distribution } = await planDistribution({
    files: { services: files.services, infrastructure: files.infrastructure, qos: files.qos },
    extraParams,
  });
  await writeFile(files.distribution, `${JSON.stringify(distributionToJson(distribution), null, 2)}\n`);
  const assigned = await planPorts({
    files: {
      services: files.services,
      infrastructure: files.infrastructure,
      distribution: files.distribution,
    },
    extraParams,
    sharedRange: { min: base, max: base + webapps - 1 },
  });
  await writeFile(files.ports, `${JSON.stringify(assigned.ports, null, 2)}\n`);
  const { manifest } = await planManifest({
    files: {
      services: files.services,
      infrastructure: files.infrastructure,
      distribution: files.distribution,
      ports: files.ports,
    },
    extraParams,
  });

  // The last webapp of the last target: one free-form property more changes its identity and nothing else.
  const last = manifest.targets[targets.at(-1)!];
  const changedWebapp = Object.values(last?.services ?? {})
    .filter((s) => s.type === 'webapp')
    .map((s) => s.name)
    .at(-1);
  if (changedWebapp === undefined) throw new Error(`no webapp placed on ${targets.at(-1)}`);
  // .mts: the file lives outside any package.json, where a .ts file would be loaded as CommonJS.
  await writeFile(
    files.changed,
    [
      `import base from ${JSON.stringify(files.services)};`,
      'export default (args: Parameters<typeof base>[0]) => {',
      '  const services = base(args);',
      `  return { ...services, ${changedWebapp}: { ...services.${changedWebapp}!, revision: 2 } };`,
      '};',
      '',
    ].join('\n'),
  );
  const rest = [
    '-i',
    files.infrastructure,
    '-d',
    files.distribution,
    '-p',
    files.ports,
    '--extra-params',
    JSON.stringify(extraParams),
  ];
  return {
    deployArgs: ['-s', files.services, ...rest],
    changedArgs: ['-s', files.changed, ...rest],
    changedWebapp,
    manifest,
    targets: ports,
  };
}

/** One process of the direct setup. */
export interface DirectCommand {
  /** Service name (`webapp3`, `proxy-test1`). */
  name: string;
  target: string;
  type: 'webapp' | 'proxy';
  args: string[];
  env: Record<string, string>;
  /** The line the process prints once it listens. */
  ready: RegExp;
  /** For a proxy, the route table file it reads, written by `writeDirectRouteTables`. */
  routesFile?: string;
  routes?: unknown;
}

function listenHost(config: Record<string, unknown>): string {
  for (const host of [config.bindHost, config.host]) if (typeof host === 'string' && host !== '') return host;
  return '127.0.0.1';
}

/**
 * The command lines the agents run for the manifest's services (packages/deployer/src/agent/activation/*), with
 * the same ports and route tables; the proxies' admin listener on port 0, as the agents start it. Pure: the route
 * tables are written by the caller. The scenario compares these with the agents' processes' /proc cmdline.
 */
export function directCommands(manifest: Manifest, dir: string): DirectCommand[] {
  const commands: DirectCommand[] = [];
  for (const target of Object.values(manifest.targets)) {
    for (const service of Object.values(target.services)) {
      const { config } = service;
      const host = listenHost(config);
      const port = String(config.port);
      const env = { NODIX_SERVICE: service.name };
      if (service.type === 'webapp') {
        commands.push({
          name: service.name,
          target: target.name,
          type: 'webapp',
          args: [webappBin, '--name', String(config.dnsName), '--port', port, '--host', host],
          env,
          ready: / listening on \S+:\d+$/,
        });
      } else if (service.type === 'proxy') {
        const routesFile = join(dir, service.name, 'routes.json');
        commands.push({
          name: service.name,
          target: target.name,
          type: 'proxy',
          args: [
            // As the agent's proxy activation module starts it (PROXY_NODE_ARGS there).
            '--max-semi-space-size=2',
            proxyBin,
            '--listen',
            `${host}:${port}`,
            '--admin-listen',
            '127.0.0.1:0',
            '--routes',
            routesFile,
          ],
          env,
          ready: /nodix-proxy listening on \S+ \(admin \S+\)/,
          routesFile,
          routes: service.routes ?? config.routes,
        });
      } else {
        throw new Error(
          `the deploy scenario knows no direct command for ${service.name} (type ${service.type})`,
        );
      }
    }
  }
  return commands;
}

/** The argv of a command with its route table path blanked, for comparing the direct and the deployed processes. */
export function comparableArgv(argv: readonly string[]): string[] {
  return argv.map((arg, i) => (argv[i - 1] === '--routes' ? '<routes.json>' : arg));
}
