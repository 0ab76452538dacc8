import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { generateDistribution, initialDistribution } from '../plan/gendist.js';
import { type BuiltManifest, buildManifest } from '../plan/manifest.js';
import { assignPorts, type PortRange, type PortsFile, parsePortsFile, portRequests } from '../plan/ports.js';
import { normalizeDistribution } from './distribution.js';
import { normalizeInfrastructure } from './infrastructure.js';
import { evaluateModel, importModel, readJsonFile } from './load.js';
import { type CheckedServices, evaluateServicesModel } from './services.js';
import type { Distribution, ExtraParams, Infrastructure } from './types.js';
import { checkDistributionServices, checkPlacementConflicts } from './validate.js';

/** Model files, as the user named them (messages quote them like this); relative to `cwd`. */
export interface ModelFiles {
  infrastructure: string;
  services?: string;
  distribution?: string;
  qos?: string;
  /** A `nodix port-assign` output (`-p`). */
  ports?: string;
  /** A `nodix gendist` output (`--previous`). */
  previousDistribution?: string;
}

/** Evaluated-from-nothing model values (what the files default-export); for callers that build models in code. */
export interface ModelSources {
  infrastructure: unknown;
  services?: unknown;
  distribution?: unknown;
  qos?: unknown;
  ports?: unknown;
  previousDistribution?: unknown;
}

export interface LoadedModels {
  files: ModelFiles;
  extraParams: ExtraParams;
  infrastructure: Infrastructure;
  /** From `-d`. */
  distribution: Distribution | undefined;
  previousDistribution: Distribution | undefined;
  ports: PortsFile | undefined;
  services: CheckedServices | undefined;
  /** The qos model as exported (evaluated by `generateDistribution`). */
  qos: unknown;
}

export interface LoadModelsOptions {
  files: ModelFiles;
  cwd?: string;
  extraParams?: ExtraParams;
  /** Where compiled TypeScript models are kept between runs (see importModel); none: compiled every time. */
  modelCacheDir?: string;
}

/** Reads and evaluates every model named in `files`, checking each (and how they fit together) before returning. */
export async function loadModels({
  files,
  cwd = process.cwd(),
  extraParams = {},
  modelCacheDir,
}: LoadModelsOptions): Promise<LoadedModels> {
  const json = (file: string | undefined) =>
    file === undefined ? undefined : readJsonFile(file, resolve(cwd, file));
  const load = { cacheDir: modelCacheDir };
  const model = (file: string | undefined) => (file === undefined ? undefined : importModel(file, cwd, load));
  const sources: ModelSources = {
    infrastructure: await importModel(files.infrastructure, cwd, load),
    services: await model(files.services),
    distribution: await model(files.distribution),
    qos: await model(files.qos),
    ports: await json(files.ports),
    previousDistribution: await json(files.previousDistribution),
  };
  return evaluateModels(sources, { files, extraParams });
}

/**
 * Evaluates model values in Disnix's order: infrastructure; distribution (a function of it); services (a function
 * of both and of the ports). Without `-d` but with a qos model, services see every service on every target (the
 * candidates gendist starts from).
 */
export async function evaluateModels(
  sources: ModelSources,
  { files, extraParams = {} }: { files: ModelFiles; extraParams?: ExtraParams },
): Promise<LoadedModels> {
  const infrastructure = normalizeInfrastructure(
    await evaluateModel(sources.infrastructure, { ...extraParams, extraParams }, files.infrastructure),
    files.infrastructure,
  );
  const distribution =
    files.distribution === undefined
      ? undefined
      : normalizeDistribution(
          await evaluateModel(
            sources.distribution,
            { ...extraParams, infrastructure, extraParams },
            files.distribution,
          ),
          files.distribution,
          infrastructure,
          { infrastructureFile: files.infrastructure },
        );
  const previousDistribution =
    files.previousDistribution === undefined
      ? undefined
      : normalizeDistribution(sources.previousDistribution, files.previousDistribution, infrastructure, {
          dropUnknownTargets: true,
        });
  const ports = files.ports === undefined ? undefined : parsePortsFile(sources.ports, files.ports);

  let services: CheckedServices | undefined;
  if (files.services !== undefined) {
    const options = { infrastructure, ports: ports?.ports ?? {}, extraParams };
    if (distribution !== undefined) {
      services = await evaluateServicesModel(sources.services, files.services, { ...options, distribution });
      checkDistributionServices(distribution, files.distribution as string, services);
      // Fixed ports can be checked now. An assigned port (`portAssign`) may be last run's and about to be moved
      // by port-assign, which must not be stopped by the collision it resolves; buildManifest checks it resolved.
      checkPlacementConflicts(services, distribution, ({ properties }) =>
        (['port', 'tlsPort'] as const).flatMap((key) =>
          typeof properties[key] === 'number' && (key === 'tlsPort' || properties.portAssign === undefined)
            ? [{ key, port: properties[key] as number }]
            : [],
        ),
      );
    } else {
      services = await evaluateServicesModel(sources.services, files.services, {
        ...options,
        distribution: {},
      });
      if (files.qos !== undefined) {
        const candidates = initialDistribution(services, infrastructure);
        services = await evaluateServicesModel(sources.services, files.services, {
          ...options,
          distribution: candidates,
        });
      }
    }
  }
  return {
    files,
    extraParams,
    infrastructure,
    distribution,
    previousDistribution,
    ports,
    services,
    qos: sources.qos,
  };
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new UsageError(`missing ${what}`);
  return value;
}

/** `nodix gendist` as a library call: the models, then the qos model's distribution. */
export async function planDistribution(
  options: LoadModelsOptions,
): Promise<{ models: LoadedModels; distribution: Distribution }> {
  const models = await loadModels(options);
  const distribution = await generateDistribution({
    qos: models.qos,
    qosFile: required(options.files.qos, 'the qos model'),
    services: required(models.services, 'the services model'),
    infrastructure: models.infrastructure,
    infrastructureFile: options.files.infrastructure,
    previousDistribution: models.previousDistribution ?? {},
    extraParams: models.extraParams,
  });
  return { models, distribution };
}

/** `nodix port-assign` as a library call. */
export async function planPorts(
  options: LoadModelsOptions & { sharedRange?: PortRange; privateRange?: PortRange },
): Promise<{ models: LoadedModels; ports: PortsFile }> {
  const models = await loadModels(options);
  const services = required(models.services, 'the services model');
  const distribution = required(models.distribution, 'the distribution model');
  const { requests, fixed } = portRequests(services, distribution);
  const ports = assignPorts({
    requests,
    fixed,
    previous: models.ports,
    sharedRange: options.sharedRange,
    privateRange: options.privateRange,
  });
  return { models, ports };
}

/** `nodix manifest` as a library call (and the first step of `nodix deploy`). */
export async function planManifest(
  options: LoadModelsOptions,
): Promise<BuiltManifest & { models: LoadedModels }> {
  const models = await loadModels(options);
  const built = buildManifest({
    services: required(models.services, 'the services model'),
    infrastructure: models.infrastructure,
    distribution: required(models.distribution, 'the distribution model'),
    ports: models.ports?.ports ?? {},
    infrastructureFile: options.files.infrastructure,
    distributionFile: options.files.distribution,
  });
  return { ...built, models };
}
