import { ModelError } from '../errors.js';
import type { CheckedServices, ServiceSpec } from './services.js';
import type { Distribution } from './types.js';

/** Every service the distribution places must exist in the services model. */
export function checkDistributionServices(
  distribution: Distribution,
  file: string,
  services: CheckedServices,
): void {
  for (const name of Object.keys(distribution)) {
    if (!services.specs.has(name)) {
      throw new ModelError(file, name, `is not a service in the services model (${services.file})`);
    }
  }
}

/**
 * Two services on one target must not answer to the same virtual host nor listen on the same port. `portsOf`
 * gives a service's ports on a target once ports are resolved (`port`, and a proxy's `tlsPort`), each with its key.
 */
export function checkPlacementConflicts(
  services: CheckedServices,
  distribution: Distribution,
  portsOf: (spec: ServiceSpec, target: string) => { key: string; port: number }[],
): void {
  const dnsNames = new Map<string, string>(); // `${target}\0${dnsName}` -> service
  const ports = new Map<string, string>(); // `${target}\0${port}` -> service
  for (const [name, targets] of Object.entries(distribution)) {
    const spec = services.specs.get(name);
    if (spec === undefined) continue;
    const dnsName = spec.properties.dnsName;
    for (const target of targets) {
      if (typeof dnsName === 'string') {
        const key = `${target.name}\0${dnsName.toLowerCase()}`;
        const other = dnsNames.get(key);
        if (other !== undefined) {
          throw new ModelError(
            services.file,
            `${name}.dnsName`,
            `'${dnsName}' is also the dnsName of '${other}', and both are placed on target '${target.name}'`,
          );
        }
        dnsNames.set(key, name);
      }
      for (const { key: property, port } of portsOf(spec, target.name)) {
        const key = `${target.name}\0${port}`;
        const other = ports.get(key);
        if (other !== undefined) {
          throw new ModelError(
            services.file,
            `${name}.${property}`,
            other === name
              ? `port ${port} is also this proxy's other listener on target '${target.name}'`
              : `port ${port} is also used by '${other}', and both are placed on target '${target.name}'`,
          );
        }
        ports.set(key, name);
      }
    }
  }
}

/**
 * Warnings (not errors): a target-specific service placed somewhere but left with nothing to depend on, e.g. the
 * proxy of a target that hosts no web app.
 */
export function targetSpecificWarnings(services: CheckedServices, distribution: Distribution): string[] {
  const warnings: string[] = [];
  for (const name of Object.keys(distribution)) {
    const spec = services.specs.get(name);
    if (spec?.targetSpecificTo === undefined) continue;
    if (spec.dependsOn.length === 0 && spec.connectsTo.length === 0) {
      warnings.push(
        `${services.file}: ${name}: target-specific service for '${spec.targetSpecificTo}' has no dependencies (nothing is placed there for it)`,
      );
    }
  }
  return warnings;
}
