import { ModelError } from '../errors.js';
import { naturalSort } from '../plan/natural-sort.js';
import { describeValue, isPort, isRecord, nameProblem } from './describe.js';
import type { Infrastructure, Target, TargetProperties } from './types.js';

const STRING_PROPERTIES = ['hostname', 'agentHost', 'bindHost'] as const;
const PORT_PROPERTIES = ['agentPort', 'proxyPort'] as const;

/**
 * Checks an evaluated infrastructure model and returns it with every target's `name` filled in, targets in
 * natural order. Properties nodix reads itself (hostname, agent and proxy addresses) are type-checked here, once.
 */
export function normalizeInfrastructure(spec: unknown, file: string): Infrastructure {
  if (!isRecord(spec)) {
    throw new ModelError(
      file,
      undefined,
      `must define an object of targets (name -> { properties }), got ${describeValue(spec)}`,
    );
  }
  const infrastructure: Infrastructure = {};
  for (const name of naturalSort(Object.keys(spec))) {
    const problem = nameProblem(name);
    if (problem) throw new ModelError(file, JSON.stringify(name), `target name ${problem}`);
    const raw = spec[name];
    if (!isRecord(raw)) {
      throw new ModelError(file, name, `must be an object with \`properties\`, got ${describeValue(raw)}`);
    }
    if (raw.name !== undefined && raw.name !== name) {
      throw new ModelError(
        file,
        `${name}.name`,
        `is ${describeValue(raw.name)}, must equal its key '${name}'`,
      );
    }
    const properties = raw.properties ?? {};
    if (!isRecord(properties)) {
      throw new ModelError(file, `${name}.properties`, `must be an object, got ${describeValue(properties)}`);
    }
    for (const key of STRING_PROPERTIES) {
      const value = properties[key];
      if (value !== undefined && (typeof value !== 'string' || value === '')) {
        throw new ModelError(
          file,
          `${name}.properties.${key}`,
          `must be a non-empty string, got ${describeValue(value)}`,
        );
      }
    }
    for (const key of PORT_PROPERTIES) {
      const value = properties[key];
      if (value !== undefined && !isPort(value)) {
        throw new ModelError(
          file,
          `${name}.properties.${key}`,
          `must be a port number (1-65535), got ${describeValue(value)}`,
        );
      }
    }
    const target: Target = { ...raw, name, properties: { ...(properties as TargetProperties) } };
    infrastructure[name] = target;
  }
  return infrastructure;
}

/** How others reach a target: property `hostname`, else the target's name. */
export function targetHostname(target: Target): string {
  return target.properties.hostname ?? target.name;
}
