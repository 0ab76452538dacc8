import { NoRoomError } from '../errors.js';
import { distributionToJson, normalizeDistribution } from '../models/distribution.js';
import { evaluateModels } from '../models/pipeline.js';
import type { CheckedServices } from '../models/services.js';
import type { Distribution, ExtraParams, Infrastructure, Target } from '../models/types.js';
import { generateDistribution, initialDistribution } from '../plan/gendist.js';
import { buildManifest } from '../plan/manifest.js';
import { naturalSort } from '../plan/natural-sort.js';
import { assignPorts, type PortsFile, portRequests } from '../plan/ports.js';
import type { Manifest } from '../plan/types.js';
import type { CapturedFacts } from './capture.js';

/** The models self-adapt works from, loaded once: the files (for messages) and what they export. */
export interface AdaptModels {
  files: { services: string; infrastructure: string; qos: string; ports?: string };
  sources: { services: unknown; qos: unknown };
  /** The declared infrastructure, every target. */
  infrastructure: Infrastructure;
  extraParams: ExtraParams;
}

/** A distribution as JSON: service -> target names. */
export type Placement = Record<string, string[]>;

export interface ReplanInput {
  models: AdaptModels;
  live: ReadonlySet<string>;
  /** The latest facts of the live targets; the qos model sees them as `properties.captured`. */
  captured?: ReadonlyMap<string, CapturedFacts>;
  /** Where each service serves now (on live targets only). */
  previous: Placement;
  /** Place from scratch (`--rebalance` when a target returns): no service is held where it was. */
  fresh: boolean;
  ports: PortsFile | undefined;
  /** The current generation's manifest: the part of a target that is not live is carried over untouched. */
  current: Manifest;
  /** Where each service was meant to serve before the change (lost targets included), to report what moved. */
  before: Placement;
}

export interface Unplaced {
  service: string;
  /** The qos model's reason, with what each candidate had left. */
  reason: string;
}

export interface Replan {
  placement: Placement;
  ports: PortsFile;
  manifest: Manifest;
  unplaced: Unplaced[];
  /** Services that changed targets; target-specific ones (a target's proxy) never move, they come and go. */
  moves: Move[];
  warnings: string[];
}

const DISTRIBUTION_FILE = 'the self-adapt distribution';

function liveTargets(
  infrastructure: Infrastructure,
  live: ReadonlySet<string>,
  captured?: ReadonlyMap<string, CapturedFacts>,
): Infrastructure {
  const result: Infrastructure = {};
  for (const [name, target] of Object.entries(infrastructure)) {
    if (!live.has(name)) continue;
    const facts = captured?.get(name);
    result[name] = facts ? { ...target, properties: { ...target.properties, captured: facts } } : target;
  }
  return result;
}

function withoutServices(services: CheckedServices, names: ReadonlySet<string>): CheckedServices {
  if (names.size === 0) return services;
  return {
    file: services.file,
    services: Object.fromEntries(Object.entries(services.services).filter(([name]) => !names.has(name))),
    specs: new Map([...services.specs].filter(([name]) => !names.has(name))),
    activationOrder: services.activationOrder.filter((name) => !names.has(name)),
  };
}

/**
 * The candidates the qos model starts from: a service that serves on live targets may stay only there (so the
 * model cannot move what does not have to move, whatever its filters); the others may go to any live target.
 */
export function stickyCandidates(all: Distribution, previous: Placement): Distribution {
  const result: Distribution = {};
  for (const [service, targets] of Object.entries(all)) {
    const where = new Set(previous[service] ?? []);
    const staying = targets.filter((target) => where.has(target.name));
    result[service] = staying.length > 0 ? (Object.freeze(staying) as Target[]) : targets;
  }
  return result;
}

/**
 * Dynamic Disnix's re-placement for a new live set: the qos model over the live targets (with the previous
 * distribution), port-assign with the previous ports, and the manifest. A service the qos model finds no room for
 * is left out and reported, and the model is asked again for the rest. Targets that are not live keep their part
 * of the current manifest as it is: the deploy does not touch what it cannot reach.
 */
export async function replan(input: ReplanInput): Promise<Replan> {
  const { models, live, previous, fresh, current } = input;
  const { files, extraParams } = models;
  const forQos = await evaluateModels(
    {
      infrastructure: liveTargets(models.infrastructure, live, input.captured),
      services: models.sources.services,
      qos: models.sources.qos,
    },
    {
      files: { infrastructure: files.infrastructure, services: files.services, qos: files.qos },
      extraParams,
    },
  );
  const services = forQos.services as CheckedServices;
  const previousDistribution = fresh
    ? {}
    : normalizeDistribution(previous, 'the previous distribution', forQos.infrastructure, {
        dropUnknownTargets: true,
      });

  const unplaced: Unplaced[] = [];
  let distribution: Distribution | undefined;
  // Each pass either succeeds or leaves one more service out, so this ends after at most |services| passes.
  while (distribution === undefined) {
    const offered = withoutServices(services, new Set(unplaced.map((u) => u.service)));
    const everywhere = initialDistribution(offered, forQos.infrastructure);
    try {
      distribution = await generateDistribution({
        qos: models.sources.qos,
        qosFile: files.qos,
        services: offered,
        infrastructure: forQos.infrastructure,
        infrastructureFile: files.infrastructure,
        previousDistribution,
        extraParams,
        initialDistribution: fresh ? everywhere : stickyCandidates(everywhere, previous),
      });
    } catch (error) {
      if (!(error instanceof NoRoomError) || !offered.specs.has(error.service)) throw error;
      unplaced.push({ service: error.service, reason: error.message });
    }
  }

  const placement = distributionToJson(distribution);
  const declared = liveTargets(models.infrastructure, live);
  const evaluate = (ports: PortsFile | undefined) =>
    evaluateModels(
      { infrastructure: declared, services: models.sources.services, distribution: placement, ports },
      {
        files: {
          infrastructure: files.infrastructure,
          services: files.services,
          distribution: DISTRIBUTION_FILE,
          ports: ports === undefined ? undefined : (files.ports ?? 'the assigned ports'),
        },
        extraParams,
      },
    );
  const placed = await evaluate(input.ports);
  const { requests, fixed } = portRequests(
    placed.services as CheckedServices,
    placed.distribution as Distribution,
  );
  const ports = assignPorts({ requests, fixed, previous: input.ports });
  const final = await evaluate(ports);
  const built = buildManifest({
    services: final.services as CheckedServices,
    infrastructure: final.infrastructure,
    distribution: final.distribution as Distribution,
    ports: ports.ports,
    infrastructureFile: files.infrastructure,
    distributionFile: DISTRIBUTION_FILE,
  });
  for (const [name, target] of Object.entries(current.targets)) {
    if (!live.has(name)) built.manifest.targets[name] = target;
  }
  const specs = (final.services as CheckedServices).specs;
  const moves = movesBetween(
    input.before,
    placement,
    (name) => specs.get(name)?.targetSpecificTo !== undefined,
  );
  return { placement, ports, manifest: built.manifest, unplaced, moves, warnings: built.warnings };
}

/** Where each service of a manifest runs, on the given targets only. */
export function placementOf(manifest: Manifest, targets?: ReadonlySet<string>): Placement {
  const placement: Placement = {};
  for (const [target, { services }] of Object.entries(manifest.targets)) {
    if (targets !== undefined && !targets.has(target)) continue;
    for (const service of Object.keys(services)) placement[service] = [...(placement[service] ?? []), target];
  }
  return distributionToJsonOrder(placement);
}

function distributionToJsonOrder(placement: Placement): Placement {
  const sorted: Placement = {};
  for (const service of naturalSort(Object.keys(placement)))
    sorted[service] = naturalSort(placement[service] ?? []);
  return sorted;
}

export interface Move {
  service: string;
  from: string[];
  to: string[];
}

/** Services whose targets differ between two placements (a service placed nowhere now is not a move). */
export function movesBetween(
  before: Placement,
  after: Placement,
  skip: (service: string) => boolean,
): Move[] {
  const moves: Move[] = [];
  for (const service of Object.keys(after)) {
    if (skip(service)) continue;
    const from = before[service] ?? [];
    const to = after[service] ?? [];
    if (from.length === to.length && from.every((target, index) => target === to[index])) continue;
    moves.push({ service, from, to });
  }
  return moves;
}
