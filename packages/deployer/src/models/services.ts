import { DependencyCycleError, ModelError } from '../errors.js';
import { naturalSort } from '../plan/natural-sort.js';
import { invertDistribution, targetSpecificTo } from '../plan/target-specific.js';
import { describeValue, isPort, isRecord, nameProblem } from './describe.js';
import { evaluateModel } from './load.js';
import { checkProxyTls, checkVirtualHostTls } from './tls.js';
import {
  type Distribution,
  type ExtraParams,
  type Infrastructure,
  SERVICE_TYPES,
  type Services,
} from './types.js';

/** A checked service, as the planners use it. */
export interface ServiceSpec {
  name: string;
  type: string;
  /** Names, in the order the model gave them. */
  dependsOn: string[];
  connectsTo: string[];
  /** The free-form properties: everything but `name`, `type`, `dependsOn` and `connectsTo`. */
  properties: Record<string, unknown>;
  /** Set when the service was made by `targetSpecific`: the target it was made for. */
  targetSpecificTo: string | undefined;
}

export interface CheckedServices {
  /** The services model file, for messages. */
  file: string;
  /** The model's own objects, keyed by name in natural order (what qos models and filters receive). */
  services: Services;
  /** Checked services, in natural order. */
  specs: Map<string, ServiceSpec>;
  /** Service names in `dependsOn` order: every service after the services it depends on. */
  activationOrder: string[];
}

const STRUCTURAL_KEYS = new Set(['name', 'type', 'dependsOn', 'connectsTo']);
const KNOWN_TYPES: ReadonlySet<string> = new Set(SERVICE_TYPES);

/**
 * Checks an evaluated services model: every failure names the file, the service key and what is wrong. Checks the
 * model on its own (names, types, references, cycles); where services land is checked with the distribution.
 */
export function checkServices(raw: unknown, file: string): CheckedServices {
  if (!isRecord(raw)) {
    throw new ModelError(
      file,
      undefined,
      `must define an object of services (name -> service), got ${describeValue(raw)}`,
    );
  }
  const names = naturalSort(Object.keys(raw));
  const services: Services = {};
  const specs = new Map<string, ServiceSpec>();
  for (const name of names) {
    const problem = nameProblem(name);
    if (problem) throw new ModelError(file, JSON.stringify(name), `service name ${problem}`);
    const service = raw[name];
    if (!isRecord(service))
      throw new ModelError(file, name, `must be a service object, got ${describeValue(service)}`);
    if (service.name !== name) {
      throw new ModelError(
        file,
        `${name}.name`,
        `is ${describeValue(service.name)}, must equal its key '${name}'`,
      );
    }
    const type = service.type;
    if (typeof type !== 'string')
      throw new ModelError(file, `${name}.type`, `is ${describeValue(type)}, must be a string`);
    if (!KNOWN_TYPES.has(type)) {
      throw new ModelError(
        file,
        `${name}.type`,
        `unknown type ${describeValue(type)}; known types: ${SERVICE_TYPES.join(', ')}`,
      );
    }
    checkProperties(service, name, file);
    const properties: Record<string, unknown> = {};
    for (const key of Object.keys(service)) if (!STRUCTURAL_KEYS.has(key)) properties[key] = service[key];
    specs.set(name, {
      name,
      type,
      dependsOn: references(service, 'dependsOn', name, file),
      connectsTo: references(service, 'connectsTo', name, file),
      properties,
      targetSpecificTo: targetSpecificTo(service),
    });
    services[name] = service as Services[string];
  }
  for (const spec of specs.values()) {
    for (const field of ['dependsOn', 'connectsTo'] as const) {
      spec[field].forEach((dependency, index) => {
        if (!specs.has(dependency)) {
          throw new ModelError(
            file,
            `${spec.name}.${field}[${index}]`,
            `names '${dependency}', which is not in the services model`,
          );
        }
      });
    }
  }
  return { file, services, specs, activationOrder: orderByDependencies(specs, file) };
}

function checkProperties(service: Record<string, unknown>, name: string, file: string): void {
  const { port, portAssign, dnsName, bindHost } = service;
  if (port !== undefined && !isPort(port)) {
    throw new ModelError(file, `${name}.port`, `must be a port number (1-65535), got ${describeValue(port)}`);
  }
  if (portAssign !== undefined && portAssign !== 'shared' && portAssign !== 'private') {
    throw new ModelError(
      file,
      `${name}.portAssign`,
      `must be 'shared' or 'private', got ${describeValue(portAssign)}`,
    );
  }
  for (const [key, value] of [
    ['dnsName', dnsName],
    ['bindHost', bindHost],
  ] as const) {
    if (value !== undefined && (typeof value !== 'string' || value === '')) {
      throw new ModelError(file, `${name}.${key}`, `must be a non-empty string, got ${describeValue(value)}`);
    }
  }
  checkVirtualHostTls(service, name, file);
  checkProxyTls(service, name, file);
}

function references(
  service: Record<string, unknown>,
  field: 'dependsOn' | 'connectsTo',
  name: string,
  file: string,
): string[] {
  const value = service[field];
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new ModelError(
      file,
      `${name}.${field}`,
      `must be an array of services, got ${describeValue(value)}`,
    );
  }
  const seen = new Set<string>();
  const names: string[] = [];
  value.forEach((ref, index) => {
    const dependency =
      typeof ref === 'string' ? ref : isRecord(ref) && typeof ref.name === 'string' ? ref.name : undefined;
    if (dependency === undefined) {
      throw new ModelError(
        file,
        `${name}.${field}[${index}]`,
        `must be a service or a service name, got ${describeValue(ref)}`,
      );
    }
    if (!seen.has(dependency)) {
      seen.add(dependency);
      names.push(dependency);
    }
  });
  return names;
}

/**
 * Topological order over `dependsOn` (iterative depth-first search, so 10 000 chained services do not overflow
 * the stack). A cycle is reported with its services in order.
 */
function orderByDependencies(specs: Map<string, ServiceSpec>, file: string): string[] {
  const state = new Map<string, 1 | 2>(); // 1: on the current path, 2: done
  const order: string[] = [];
  for (const root of specs.keys()) {
    if (state.has(root)) continue;
    const path: string[] = [root];
    const next: number[] = [0];
    state.set(root, 1);
    while (path.length > 0) {
      const current = path[path.length - 1] as string;
      const dependencies = (specs.get(current) as ServiceSpec).dependsOn;
      const index = next[next.length - 1] as number;
      if (index < dependencies.length) {
        next[next.length - 1] = index + 1;
        const dependency = dependencies[index] as string;
        const seen = state.get(dependency);
        if (seen === 1)
          throw new DependencyCycleError(file, [...path.slice(path.indexOf(dependency)), dependency]);
        if (seen === undefined) {
          state.set(dependency, 1);
          path.push(dependency);
          next.push(0);
        }
      } else {
        state.set(current, 2);
        order.push(current);
        path.pop();
        next.pop();
      }
    }
  }
  return order;
}

export interface EvaluateServicesOptions {
  infrastructure: Infrastructure;
  distribution: Distribution;
  ports: Record<string, number>;
  extraParams: ExtraParams;
}

const MAX_PASSES = 4;

/**
 * Evaluates the services model. It receives `invDistribution`, which holds the services themselves, so it is
 * evaluated until that input stops changing: first with no services placed, then with the services of the previous
 * pass. Target-specific services (made from what is placed on a target) settle on the second pass; a model whose
 * placements keep changing is refused rather than looped on.
 */
export async function evaluateServicesModel(
  model: unknown,
  file: string,
  { infrastructure, distribution, ports, extraParams }: EvaluateServicesOptions,
): Promise<CheckedServices> {
  let placed: Services = {};
  let placedSignature = placementSignature(distribution, placed);
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const invDistribution = invertDistribution(infrastructure, distribution, placed);
    const args = { ...extraParams, infrastructure, distribution, invDistribution, ports, extraParams };
    const raw = await evaluateModel(model, args, file);
    if (!isRecord(raw)) return checkServices(raw, file);
    const signature = placementSignature(distribution, raw as Services);
    if (signature === placedSignature) return checkServices(raw, file);
    placed = raw as Services;
    placedSignature = signature;
  }
  throw new ModelError(
    file,
    undefined,
    `does not settle: after ${MAX_PASSES} evaluations the services placed on the targets (invDistribution) still change; a target-specific service must not change which services exist`,
  );
}

/**
 * What a services model can see of itself through invDistribution: which placed services exist, with their type.
 * The distribution is the same on every pass, so where they sit needs no comparing; this keeps the check linear
 * in services rather than in services x targets.
 */
function placementSignature(distribution: Distribution, services: Services): string {
  const parts: string[] = [];
  for (const name of Object.keys(distribution)) {
    const service = Object.hasOwn(services, name) ? services[name] : undefined;
    if (isRecord(service)) parts.push(`${name}:${String(service.type)}`);
  }
  return parts.join(';');
}
