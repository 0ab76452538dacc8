import { ModelError, NoRoomError } from '../errors.js';
import { describeValue, listNames } from '../models/describe.js';
import type { Distribution, Infrastructure, Service, Services, Target } from '../models/types.js';
import { naturalCompare, naturalSort } from './natural-sort.js';
import { targetSpecificTo } from './target-specific.js';

/**
 * The qos filters (Dynamic Disnix's): pure functions from a candidate map (service -> the targets it may go to, in
 * order of preference) to a narrower one. A qos model chains them, starting from `initialDistribution`.
 */

export type DivideStrategy = 'greedy' | 'highest-bidder' | 'lowest-bidder' | 'round-robin';
export const DIVIDE_STRATEGIES: readonly DivideStrategy[] = [
  'greedy',
  'highest-bidder',
  'lowest-bidder',
  'round-robin',
];

export interface DivideOptions {
  /**
   * greedy: the first candidate with room left; highest-bidder: the candidate with the most left; lowest-bidder: the
   * one with the least left that still fits; round-robin: the next target in turn that fits.
   */
  strategy: DivideStrategy;
  distribution: Distribution;
  services: Services;
  infrastructure?: Infrastructure;
  /** What a service needs (e.g. `weight`); a service without it needs 0. */
  serviceProperty: string;
  /** What a target has (e.g. `capacity`); a target without it is never a candidate. */
  targetProperty: string;
}

export interface MatchOptions {
  distribution: Distribution;
  services: Services;
  infrastructure?: Infrastructure;
  serviceProperty: string;
  targetProperty: string;
}

export interface KeepPreviousOptions {
  distribution: Distribution;
  previousDistribution: Distribution;
  services: Services;
  /** Which services stay where they were; default: those marked `stateful` or `bound`. */
  when?: (service: Service) => boolean;
}

export interface OrderOptions {
  distribution: Distribution;
  infrastructure?: Infrastructure;
  /** A numeric target property, e.g. `priority`; targets without it come last. */
  targetProperty: string;
  /** Default `descending`: the highest value is preferred. */
  direction?: 'ascending' | 'descending';
}

export interface SelectOptions {
  distribution: Distribution;
  services: Services;
  where: (service: Service) => boolean;
}

export interface TargetSpecificOptions {
  services: Services;
  infrastructure: Infrastructure;
}

export interface Filters {
  divide(options: DivideOptions): Distribution;
  /** Keeps the targets whose `targetProperty` equals the service's `serviceProperty`. */
  mapAttrOnAttr(options: MatchOptions): Distribution;
  /** Keeps the targets whose list `targetProperty` includes the service's `serviceProperty`. */
  mapAttrOnList(options: MatchOptions): Distribution;
  /** Keeps the targets whose `targetProperty` is in the service's list `serviceProperty`. */
  mapListOnAttr(options: MatchOptions): Distribution;
  keepPrevious(options: KeepPreviousOptions): Distribution;
  order(options: OrderOptions): Distribution;
  select(options: SelectOptions): Distribution;
  /** Places every service made by `targetSpecific()` on its own target. */
  targetSpecific(options: TargetSpecificOptions): Distribution;
}

export interface FilterFiles {
  /** Named in messages about service properties. */
  servicesFile?: string;
  /** Named in messages about target properties. */
  infrastructureFile?: string;
}

/** Filters whose messages name the given model files. */
export function createFilters({
  servicesFile = 'services model',
  infrastructureFile = 'infrastructure model',
}: FilterFiles = {}): Filters {
  const serviceNumber = (service: Service | undefined, name: string, property: string): number => {
    const value = service?.[property];
    if (value === undefined) return 0;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new ModelError(
        servicesFile,
        `${name}.${property}`,
        `must be a number >= 0 to divide on it, got ${describeValue(value)}`,
      );
    }
    return value;
  };
  const targetNumber = (target: Target, property: string): number | undefined => {
    const value = target.properties[property];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new ModelError(
        infrastructureFile,
        `${target.name}.properties.${property}`,
        `must be a number to divide on it, got ${describeValue(value)}`,
      );
    }
    return value;
  };
  const listProperty = (file: string, key: string, value: unknown): readonly unknown[] => {
    if (!Array.isArray(value))
      throw new ModelError(file, key, `must be a list for this filter, got ${describeValue(value)}`);
    return value;
  };

  const match =
    (test: (serviceValue: unknown, target: Target, service: string, options: MatchOptions) => boolean) =>
    (options: MatchOptions): Distribution => {
      const result: Distribution = {};
      for (const [name, targets] of Object.entries(options.distribution)) {
        const value = options.services[name]?.[options.serviceProperty];
        // A service that does not have the property is not constrained by it.
        result[name] =
          value === undefined
            ? targets
            : targets.filter(
                (target) =>
                  target.properties[options.targetProperty] !== undefined &&
                  test(value, target, name, options),
              );
      }
      return result;
    };

  return {
    divide(options) {
      return divide(options, serviceNumber, targetNumber);
    },
    mapAttrOnAttr: match(
      (value, target, _service, { targetProperty }) => target.properties[targetProperty] === value,
    ),
    mapAttrOnList: match((value, target, _service, { targetProperty }) =>
      listProperty(
        infrastructureFile,
        `${target.name}.properties.${targetProperty}`,
        target.properties[targetProperty],
      ).includes(value),
    ),
    mapListOnAttr: match((value, target, service, { serviceProperty, targetProperty }) =>
      listProperty(servicesFile, `${service}.${serviceProperty}`, value).includes(
        target.properties[targetProperty],
      ),
    ),
    keepPrevious({
      distribution,
      previousDistribution,
      services,
      when = (s) => s.stateful === true || s.bound === true,
    }) {
      const result: Distribution = {};
      for (const [name, targets] of Object.entries(distribution)) {
        const service = services[name];
        const before = previousDistribution[name];
        if (service === undefined || before === undefined || !when(service)) {
          result[name] = targets;
          continue;
        }
        // Stay on the previous targets that are still candidates; if none is left, the service has to move.
        const previousNames = new Set(before.map((target) => target.name));
        const staying = targets.filter((target) => previousNames.has(target.name));
        result[name] = staying.length > 0 ? staying : targets;
      }
      return result;
    },
    order({ distribution, targetProperty, direction = 'descending' }) {
      const sign = direction === 'descending' ? -1 : 1;
      const result: Distribution = {};
      for (const [name, targets] of Object.entries(distribution)) {
        // Array.prototype.sort is stable: targets with equal values keep their order.
        result[name] = [...targets].sort((a, b) => {
          const va = targetNumber(a, targetProperty);
          const vb = targetNumber(b, targetProperty);
          if (va === undefined || vb === undefined) return va === vb ? 0 : va === undefined ? 1 : -1;
          return sign * (va - vb);
        });
      }
      return result;
    },
    select({ distribution, services, where }) {
      const result: Distribution = {};
      for (const [name, targets] of Object.entries(distribution)) {
        const service = services[name];
        if (service !== undefined && where(service)) result[name] = targets;
      }
      return result;
    },
    targetSpecific({ services, infrastructure }) {
      const result: Distribution = {};
      for (const name of naturalSort(Object.keys(services))) {
        const target = targetSpecificTo(services[name] as Service);
        if (target !== undefined && Object.hasOwn(infrastructure, target))
          result[name] = [infrastructure[target] as Target];
      }
      return result;
    },
  };
}

/** Filters with generic file names in their messages, for use outside a qos model. */
export const filters: Filters = createFilters();

type ServiceNumber = (service: Service | undefined, name: string, property: string) => number;
type TargetNumber = (target: Target, property: string) => number | undefined;

/**
 * Places every service on exactly one of its candidates without exceeding any target's capacity. Services that can
 * go to one target only are placed first, so that a flexible service never takes the room a pinned one needs; then
 * the rest, each group in natural order. Linear in services x candidates.
 */
function divide(
  options: DivideOptions,
  serviceNumber: ServiceNumber,
  targetNumber: TargetNumber,
): Distribution {
  const { strategy, distribution, services, serviceProperty, targetProperty } = options;
  if (!DIVIDE_STRATEGIES.includes(strategy)) {
    throw new ModelError(
      'qos model',
      'divide.strategy',
      `unknown strategy ${describeValue(strategy)}; use ${DIVIDE_STRATEGIES.join(', ')}`,
    );
  }
  const left = new Map<string, number>();
  const candidatesOf = new Map<string, Target[]>();
  for (const [name, targets] of Object.entries(distribution)) {
    const candidates: Target[] = [];
    for (const target of targets) {
      if (!left.has(target.name)) {
        const capacity = targetNumber(target, targetProperty);
        if (capacity === undefined) continue;
        left.set(target.name, capacity);
      }
      candidates.push(target);
    }
    candidatesOf.set(name, candidates);
  }
  const names = naturalSort(candidatesOf.keys());
  const ordered = [
    ...names.filter((name) => (candidatesOf.get(name) as Target[]).length === 1),
    ...names.filter((name) => (candidatesOf.get(name) as Target[]).length !== 1),
  ];

  // round-robin turns through every target that has the property, in natural order.
  const rotation = naturalSort(left.keys());
  let turn = 0;

  const placed = new Map<string, Target>();
  for (const name of ordered) {
    const candidates = candidatesOf.get(name) as Target[];
    const need = serviceNumber(services[name], name, serviceProperty);
    let chosen: Target | undefined;
    if (strategy === 'round-robin') {
      const byName = new Map(candidates.map((target) => [target.name, target]));
      for (let step = 0; step < rotation.length && chosen === undefined; step++) {
        const index = (turn + step) % rotation.length;
        const candidate = byName.get(rotation[index] as string);
        if (candidate !== undefined && (left.get(candidate.name) as number) >= need) {
          chosen = candidate;
          turn = index + 1;
        }
      }
    } else {
      let best: number | undefined;
      for (const candidate of candidates) {
        const room = left.get(candidate.name) as number;
        if (room < need) continue;
        if (strategy === 'greedy') {
          chosen = candidate;
          break;
        }
        if (best === undefined || (strategy === 'highest-bidder' ? room > best : room < best)) {
          best = room;
          chosen = candidate;
        }
      }
    }
    if (chosen === undefined)
      throw noRoom(name, need, distribution[name] ?? [], candidates, left, serviceProperty, targetProperty);
    left.set(chosen.name, (left.get(chosen.name) as number) - need);
    placed.set(name, chosen);
  }

  const result: Distribution = {};
  for (const name of names) result[name] = [placed.get(name) as Target];
  return result;
}

function noRoom(
  service: string,
  need: number,
  given: Target[],
  candidates: Target[],
  left: Map<string, number>,
  serviceProperty: string,
  targetProperty: string,
): NoRoomError {
  if (given.length === 0) {
    return new NoRoomError(
      `no room for '${service}': no target is left as a candidate for it before divide`,
      service,
    );
  }
  if (candidates.length === 0) {
    return new NoRoomError(
      `no room for '${service}': none of its candidate targets (${listNames(given.map((t) => t.name))}) has the property '${targetProperty}'`,
      service,
    );
  }
  const rooms = [...candidates]
    .sort((a, b) => naturalCompare(a.name, b.name))
    .map((target) => `${target.name} has ${left.get(target.name)} left`);
  return new NoRoomError(
    `no room for '${service}': it needs ${need} of '${targetProperty}' (its '${serviceProperty}') and no candidate has that much left: ${listNames(rooms, 20)}`,
    service,
  );
}
