import { ModelError } from '../errors.js';
import { naturalSort } from '../plan/natural-sort.js';
import { describeValue, isRecord, listNames, nameProblem } from './describe.js';
import type { Distribution, Infrastructure, Target } from './types.js';

export interface NormalizeDistributionOptions {
  /** Name of the infrastructure model file, for messages about unknown targets. */
  infrastructureFile?: string;
  /**
   * For a previous distribution: targets that no longer exist are dropped (their services must move) instead of
   * being an error.
   */
  dropUnknownTargets?: boolean;
  /** Keep services mapped to no target (`[]`); by default they are left out, as they run nowhere. */
  keepEmpty?: boolean;
}

/**
 * Checks an evaluated distribution (a model, gendist's JSON or a qos result) and maps every service to the target
 * objects of `infrastructure`. Targets may be given by name or as the objects the model received. The order of a
 * service's targets is kept: qos filters use it as a preference order.
 */
export function normalizeDistribution(
  spec: unknown,
  file: string,
  infrastructure: Infrastructure,
  options: NormalizeDistributionOptions = {},
): Distribution {
  if (!isRecord(spec)) {
    throw new ModelError(
      file,
      undefined,
      `must define an object of service -> targets, got ${describeValue(spec)}`,
    );
  }
  const distribution: Distribution = {};
  for (const service of naturalSort(Object.keys(spec))) {
    const problem = nameProblem(service);
    if (problem) throw new ModelError(file, JSON.stringify(service), `service name ${problem}`);
    const value = spec[service];
    const refs = Array.isArray(value) ? value : [value];
    const targets: Target[] = [];
    const seen = new Set<string>();
    refs.forEach((ref, index) => {
      const key = Array.isArray(value) ? `${service}[${index}]` : service;
      const name =
        typeof ref === 'string' ? ref : isRecord(ref) && typeof ref.name === 'string' ? ref.name : undefined;
      if (ref === undefined) {
        throw new ModelError(
          file,
          key,
          `is undefined: a target that is not in the infrastructure model${options.infrastructureFile ? ` (${options.infrastructureFile})` : ''}? It has: ${listNames(Object.keys(infrastructure))}`,
        );
      }
      if (name === undefined) {
        throw new ModelError(
          file,
          key,
          `must be a target (a name or an infrastructure target), got ${describeValue(ref)}`,
        );
      }
      const target = infrastructure[name];
      if (target === undefined || !Object.hasOwn(infrastructure, name)) {
        if (options.dropUnknownTargets) return;
        const where = options.infrastructureFile ? ` (${options.infrastructureFile})` : '';
        throw new ModelError(
          file,
          key,
          `target '${name}' is not in the infrastructure model${where}, which has: ${listNames(Object.keys(infrastructure))}`,
        );
      }
      if (seen.has(name)) throw new ModelError(file, key, `lists target '${name}' twice`);
      seen.add(name);
      targets.push(target);
    });
    if (targets.length > 0 || options.keepEmpty) distribution[service] = targets;
  }
  return distribution;
}

/** The distribution as JSON (`nodix gendist` output, `-d` input): target names, services and targets in natural order. */
export function distributionToJson(distribution: Distribution): Record<string, string[]> {
  const json: Record<string, string[]> = {};
  for (const service of naturalSort(Object.keys(distribution))) {
    const targets = distribution[service] ?? [];
    if (targets.length > 0) json[service] = naturalSort(targets.map((target) => target.name));
  }
  return json;
}
