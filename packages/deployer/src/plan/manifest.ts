import { ModelError } from '../errors.js';
import { agentAddressOf, targetHostname } from '../models/infrastructure.js';
import type { CheckedServices, ServiceSpec } from '../models/services.js';
import { DEFAULT_PROXY_TLS_PORT, type TlsFiles, VIRTUAL_HOST_TLS_KEYS } from '../models/tls.js';
import type { Distribution, Infrastructure, Target } from '../models/types.js';
import {
  checkDistributionServices,
  checkPlacementConflicts,
  targetSpecificWarnings,
} from '../models/validate.js';
import { identityHash, toCanonicalJson } from './identity.js';
import { naturalCompare, naturalSort } from './natural-sort.js';
import { buildRouteTable, type RoutedService } from './route-tables.js';
import {
  DEFAULT_BIND_HOST,
  DEFAULT_PROXY_PORT,
  type DependencyAddress,
  type DependencyRef,
  type Manifest,
  type ProxyAcmeConfig,
  type ServiceInstance,
  type TargetManifest,
} from './types.js';

export interface BuildManifestInput {
  services: CheckedServices;
  infrastructure: Infrastructure;
  distribution: Distribution;
  /** The `ports` of `nodix port-assign`'s output (`-p`); `{}` without it. */
  ports?: Record<string, number>;
  /** For messages. */
  infrastructureFile?: string;
  distributionFile?: string;
}

export interface BuiltManifest {
  manifest: Manifest;
  /** Things worth telling the user that do not stop the deployment. */
  warnings: string[];
}

interface Placement {
  spec: ServiceSpec;
  targets: Target[];
  /** Resolved, canonical configuration per target name. */
  configs: Map<string, Record<string, unknown>>;
  addresses: DependencyAddress[];
  hashes: Map<string, string>;
  /** `connectsTo` targets and their addresses; their hashes are added once every hash is known. */
  connectsTo: { service: string; addresses: DependencyAddress[] }[];
}

/**
 * `nodix manifest`: what runs where, fully resolved. Each service instance gets its configuration (ports and bind
 * addresses filled in), its dependencies' addresses, for a proxy its route table, and an identity hash. Hashes are
 * computed in dependency order, each from already computed ones, so the whole manifest is linear in the number of
 * instances plus dependency edges.
 */
export function buildManifest(input: BuildManifestInput): BuiltManifest {
  const { services, infrastructure, distribution, ports = {} } = input;
  const infrastructureFile = input.infrastructureFile ?? 'infrastructure model';
  const distributionFile = input.distributionFile ?? 'distribution model';
  checkDistributionServices(distribution, distributionFile, services);

  const placements = new Map<string, Placement>();
  for (const name of naturalSort(Object.keys(distribution))) {
    const spec = services.specs.get(name) as ServiceSpec;
    const targets = [...(distribution[name] ?? [])].sort((a, b) => naturalCompare(a.name, b.name));
    const configs = new Map<string, Record<string, unknown>>();
    const addresses: DependencyAddress[] = [];
    const tls = spec.type === 'proxy' ? proxyTlsNeeds(spec, services, distribution) : NO_TLS;
    for (const target of targets) {
      const config = resolveConfig(spec, target, ports, services.file, tls);
      configs.set(target.name, config);
      const address: DependencyAddress = { target: target.name, hostname: targetHostname(target) };
      if (typeof config.port === 'number') address.port = config.port;
      addresses.push(address);
    }
    placements.set(name, { spec, targets, configs, addresses, hashes: new Map(), connectsTo: [] });
  }

  checkPlacementConflicts(services, distribution, (spec, target) => {
    const config = placements.get(spec.name)?.configs.get(target);
    return (['port', 'tlsPort'] as const).flatMap((key) =>
      typeof config?.[key] === 'number' ? [{ key, port: config[key] as number }] : [],
    );
  });

  const placementOf = (service: string, dependency: string, field: string): Placement => {
    const placement = placements.get(dependency);
    if (placement === undefined) {
      throw new ModelError(
        distributionFile,
        dependency,
        `is placed on no target, but '${service}' has it in ${field}`,
      );
    }
    return placement;
  };

  // Instances, in dependency order: a service's dependencies are hashed before it.
  const instances = new Map<string, ServiceInstance[]>();
  for (const name of services.activationOrder) {
    const placement = placements.get(name);
    if (placement === undefined) continue;
    const { spec } = placement;
    const dependsOn: DependencyRef[] = spec.dependsOn.map((dependency) => {
      const target = placementOf(name, dependency, 'dependsOn');
      return {
        service: dependency,
        hashes: uniqueSorted(target.hashes.values()),
        addresses: target.addresses,
      };
    });
    placement.connectsTo = spec.connectsTo.map((dependency) => ({
      service: dependency,
      addresses: placementOf(name, dependency, 'connectsTo').addresses,
    }));
    const routes =
      spec.type === 'proxy'
        ? buildRouteTable(
            name,
            naturalSort(new Set([...spec.dependsOn, ...spec.connectsTo]))
              .map((dependency) => routed(placements.get(dependency) as Placement, services.file))
              .filter((service): service is RoutedService => service !== undefined),
            services.file,
            canonical(spec.properties.defaultTls, `${name}.defaultTls`, services.file) as
              | TlsFiles
              | undefined,
          )
        : undefined;
    const list: ServiceInstance[] = [];
    for (const target of placement.targets) {
      const config = placement.configs.get(target.name) as Record<string, unknown>;
      const hash = identityHash({
        name,
        type: spec.type,
        config,
        dependsOn,
        connectsTo: placement.connectsTo,
        routes: routes ?? null,
      });
      placement.hashes.set(target.name, hash);
      const instance: ServiceInstance = {
        name,
        type: spec.type,
        target: target.name,
        hash,
        config,
        dependsOn,
        // Filled in below, once every hash is known: connectsTo may form cycles, so its hashes cannot be inputs.
        connectsTo: [],
      };
      if (routes !== undefined) instance.routes = routes;
      list.push(instance);
    }
    instances.set(name, list);
  }

  const targets: Record<string, TargetManifest> = {};
  const invalidProperty = (path: string, why: string): never => {
    throw new ModelError(infrastructureFile, path, why);
  };
  for (const name of naturalSort(Object.keys(infrastructure))) {
    const target = infrastructure[name] as Target;
    targets[name] = {
      name,
      properties: toCanonicalJson(target.properties, `${name}.properties`, invalidProperty) as Record<
        string,
        unknown
      >,
      agent: agentAddressOf(target),
      services: {},
    };
  }
  for (const name of naturalSort(instances.keys())) {
    const placement = placements.get(name) as Placement;
    const connectsTo: DependencyRef[] = placement.connectsTo.map(({ service, addresses }) => ({
      service,
      hashes: uniqueSorted((placements.get(service) as Placement).hashes.values()),
      addresses,
    }));
    for (const instance of instances.get(name) as ServiceInstance[]) {
      instance.connectsTo = connectsTo;
      (targets[instance.target] as TargetManifest).services[name] = instance;
    }
  }

  return { manifest: { version: 1, targets }, warnings: targetSpecificWarnings(services, distribution) };
}

/** What a proxy's route table asks of its listeners: a TLS listener at all, and an ACME client. */
interface ProxyTlsNeeds {
  tls: boolean;
  acme: boolean;
}

const NO_TLS: ProxyTlsNeeds = { tls: false, acme: false };

/**
 * Read off the models rather than the built route table, so that the TLS port is known (and checked against the
 * other ports of the target) before any route table is built: a proxy serves TLS when it has `defaultTls` or routes
 * a placed virtual host with `tls`, and runs an ACME client when one of those hosts has `tls: 'acme'`.
 */
function proxyTlsNeeds(
  spec: ServiceSpec,
  services: CheckedServices,
  distribution: Distribution,
): ProxyTlsNeeds {
  const needs = { tls: spec.properties.defaultTls !== undefined, acme: false };
  for (const dependency of new Set([...spec.dependsOn, ...spec.connectsTo])) {
    const properties = services.specs.get(dependency)?.properties;
    if (typeof properties?.dnsName !== 'string' || distribution[dependency] === undefined) continue;
    if (properties.tls !== undefined) needs.tls = true;
    if (properties.tls === 'acme') needs.acme = true;
  }
  return needs;
}

/** Keys that are not the service's own configuration: its virtual host's HTTPS (and a proxy's `defaultTls`) live
 * in route tables, so that a certificate change reloads the proxies and never restarts the web app. */
const ROUTE_TABLE_KEYS: readonly string[] = [...VIRTUAL_HOST_TLS_KEYS, 'defaultTls'];

/**
 * A service instance's configuration: the model's properties plus what nodix fills in (port, bind address, a
 * proxy's TLS port and ACME settings), as canonical JSON. Also checks what each type needs to run at all.
 */
function resolveConfig(
  spec: ServiceSpec,
  target: Target,
  ports: Record<string, number>,
  file: string,
  tls: ProxyTlsNeeds,
): Record<string, unknown> {
  const { name, properties } = spec;
  const config: Record<string, unknown> = { ...properties };
  for (const key of ROUTE_TABLE_KEYS) delete config[key];
  let port = properties.port as number | undefined;
  if (port === undefined && properties.portAssign !== undefined) {
    port = Object.hasOwn(ports, name) ? ports[name] : undefined;
    if (port === undefined) {
      throw new ModelError(
        file,
        `${name}.port`,
        `no port assigned (portAssign: '${String(properties.portAssign)}'); run 'nodix port-assign' and pass its output with -p`,
      );
    }
  }
  if (port === undefined && spec.type === 'proxy') port = target.properties.proxyPort ?? DEFAULT_PROXY_PORT;
  if (port !== undefined) {
    config.port = port;
    config.bindHost = properties.bindHost ?? target.properties.bindHost ?? DEFAULT_BIND_HOST;
  }
  if (spec.type === 'proxy') {
    // A TLS listener only where there is a certificate to serve (or the model names the port itself): the first
    // TLS host on a target restarts its proxy once, to open the listener; later certificate changes reload it.
    if (tls.tls && config.tlsPort === undefined)
      config.tlsPort = target.properties.proxyTlsPort ?? DEFAULT_PROXY_TLS_PORT;
    if (tls.acme) {
      const { acmeDirectory, acmeEmail, acmeCa } = target.properties;
      const acme: ProxyAcmeConfig = { directory: acmeDirectory, email: acmeEmail, ca: acmeCa };
      config.acme = acme;
    }
  }
  if (spec.type === 'webapp') {
    if (typeof config.dnsName !== 'string')
      throw new ModelError(file, `${name}.dnsName`, 'a webapp needs a dnsName to answer to');
    if (port === undefined)
      throw new ModelError(file, `${name}.port`, 'a webapp needs a port (set port, or portAssign with -p)');
  }
  return toCanonicalJson(config, name, (path, why) => {
    throw new ModelError(file, path, why);
  }) as Record<string, unknown>;
}

function routed(placement: Placement, file: string): RoutedService | undefined {
  const { name, properties } = placement.spec;
  const dnsName = properties.dnsName;
  if (typeof dnsName !== 'string') return undefined;
  const https = canonical(
    { tls: properties.tls, redirectHttps: properties.redirectHttps, hsts: properties.hsts },
    name,
    file,
  ) as RoutedService['https'];
  return { name, dnsName, addresses: placement.addresses, https };
}

/** Model data as canonical JSON (fixed key order), so that equal settings hash equally; undefined stays so. */
function canonical(value: unknown, path: string, file: string): unknown {
  if (value === undefined) return undefined;
  return toCanonicalJson(value, path, (at, why) => {
    throw new ModelError(file, at, why);
  });
}

function uniqueSorted(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}
