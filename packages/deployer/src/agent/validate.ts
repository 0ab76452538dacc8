import type { DependencyRef, ServiceInstance } from '../plan/types.js';

/**
 * Checks of what crosses a trust boundary: request bodies sent to the agent and the state file read back from disk.
 * Each check returns the first problem as `path: what is wrong`, which becomes the 400 answer or the corrupt-state
 * message; nothing is coerced or defaulted here.
 */
export type Problem = string | undefined;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Service names become file names in the state directory: keep them to a safe alphabet. */
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkServiceName(value: unknown, path: string): Problem {
  if (typeof value !== 'string') return `${path}: must be a string`;
  if (!SERVICE_NAME.test(value)) {
    return `${path}: '${value}' is not a valid service name (letters, digits, '.', '_', '-', at most 128)`;
  }
  return undefined;
}

export function checkString(value: unknown, path: string, { nonEmpty = true } = {}): Problem {
  if (typeof value !== 'string') return `${path}: must be a string`;
  if (nonEmpty && value === '') return `${path}: must not be empty`;
  return undefined;
}

export function checkPort(value: unknown, path: string): Problem {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    return `${path}: must be a TCP port (an integer from 1 to 65535)`;
  }
  return undefined;
}

export function checkPositiveInteger(value: unknown, path: string, max = Number.MAX_SAFE_INTEGER): Problem {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || value > max) {
    return `${path}: must be a positive integer${max < Number.MAX_SAFE_INTEGER ? ` at most ${max}` : ''}`;
  }
  return undefined;
}

function checkDependencies(value: unknown, path: string): Problem {
  if (!Array.isArray(value)) return `${path}: must be an array`;
  for (const [index, ref] of (value as unknown[]).entries()) {
    const at = `${path}[${index}]`;
    if (!isRecord(ref)) return `${at}: must be an object`;
    const dep = ref as Partial<DependencyRef>;
    const problem =
      checkString(dep.service, `${at}.service`) ??
      (Array.isArray(dep.hashes) ? undefined : `${at}.hashes: must be an array`) ??
      (Array.isArray(dep.addresses) ? undefined : `${at}.addresses: must be an array`);
    if (problem) return problem;
  }
  return undefined;
}

/** The shape every service instance has, whatever its type; the activation module then checks its `config`. */
export function checkServiceInstance(value: unknown, path: string): Problem {
  if (!isRecord(value)) return `${path}: must be an object`;
  const instance = value as Partial<ServiceInstance>;
  return (
    checkServiceName(instance.name, `${path}.name`) ??
    checkString(instance.type, `${path}.type`) ??
    checkString(instance.target, `${path}.target`) ??
    checkString(instance.hash, `${path}.hash`) ??
    (isRecord(instance.config) ? undefined : `${path}.config: must be an object`) ??
    checkDependencies(instance.dependsOn ?? [], `${path}.dependsOn`) ??
    checkDependencies(instance.connectsTo ?? [], `${path}.connectsTo`) ??
    (instance.routes === undefined || isRecord(instance.routes)
      ? undefined
      : `${path}.routes: must be an object`)
  );
}

/** `bindHost` and `host`, when given, name the address a service listens on. */
export function checkOptionalHost(instance: { config: Record<string, unknown> }): Problem {
  for (const key of ['bindHost', 'host']) {
    const value = instance.config[key];
    if (value !== undefined) {
      const problem = checkString(value, `service.config.${key}`);
      if (problem) return problem;
    }
  }
  return undefined;
}
