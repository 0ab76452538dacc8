import { normalizeDistribution } from '../models/distribution.js';
import { evaluateModel } from '../models/load.js';
import type { CheckedServices } from '../models/services.js';
import type {
  Distribution,
  DistributionSpec,
  ExtraParams,
  Infrastructure,
  Services,
  Target,
} from '../models/types.js';
import { checkDistributionServices } from '../models/validate.js';
import { createFilters, type Filters } from './filters.js';

export interface QosModelArgs {
  services: Services;
  infrastructure: Infrastructure;
  /** Every service on every target, targets in natural order: the candidates before any filter. */
  initialDistribution: Distribution;
  /** The distribution of `--previous`, `{}` without it. */
  previousDistribution: Distribution;
  filters: Filters;
  extraParams: ExtraParams;
  [param: string]: unknown;
}

export type QosModel =
  | DistributionSpec
  | ((args: QosModelArgs) => DistributionSpec | Distribution | Promise<DistributionSpec | Distribution>);

export interface GenerateDistributionInput {
  /** The qos model: a function of `QosModelArgs` (or a fixed distribution). */
  qos: unknown;
  qosFile: string;
  services: CheckedServices;
  infrastructure: Infrastructure;
  infrastructureFile: string;
  previousDistribution?: Distribution;
  extraParams?: ExtraParams;
  /** The candidates the model starts from; default every service on every target (`nodix self-adapt` narrows it). */
  initialDistribution?: Distribution;
}

/**
 * `nodix gendist`: evaluates the qos model over every service and target and checks what it returns like any
 * distribution (known services, known targets).
 */
export async function generateDistribution(input: GenerateDistributionInput): Promise<Distribution> {
  const {
    qos,
    qosFile,
    services,
    infrastructure,
    infrastructureFile,
    previousDistribution = {},
    extraParams = {},
  } = input;
  const args: QosModelArgs = {
    ...extraParams,
    services: services.services,
    infrastructure,
    initialDistribution: input.initialDistribution ?? initialDistribution(services, infrastructure),
    previousDistribution,
    filters: createFilters({ servicesFile: services.file, infrastructureFile }),
    extraParams,
  };
  const result = await evaluateModel(qos, args, qosFile);
  const distribution = normalizeDistribution(result, qosFile, infrastructure, { infrastructureFile });
  checkDistributionServices(distribution, qosFile, services);
  return distribution;
}

/**
 * Every service on every target. All services share one frozen array: the map stays linear in size, and a qos
 * model that tries to change it in place gets an error instead of corrupting other services' candidates.
 */
export function initialDistribution(services: CheckedServices, infrastructure: Infrastructure): Distribution {
  const everywhere = Object.freeze(Object.values(infrastructure)) as Target[];
  const distribution: Distribution = {};
  for (const name of services.specs.keys()) distribution[name] = everywhere;
  return distribution;
}
