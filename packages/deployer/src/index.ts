// The nodix library: the planning pipeline (models -> distribution -> ports -> manifest), the helpers model files
// import, the CLI frame every command plugs into, the agent, and deployment through agents (generations, rollback).

export type * from './agent/api.js';
export { type Agent, type AgentOptions, createAgent } from './agent/server.js';
export type { ServiceStatus } from './agent/supervisor.js';
export { main, topLevelUsage } from './cli.js';
export type { Command, CommandIO, OutputStream } from './commands/index.js';
export { commands, findCommand } from './commands/index.js';
export {
  json,
  MODEL_OPTIONS,
  MODEL_OPTIONS_HELP,
  parseExtraParams,
  writeOutput,
} from './commands/model-options.js';
export { parseCommandArgs, requireOption } from './commands/parse-args.js';
export * from './errors.js';
export { type ApplyOptions, type ApplyResult, applyGoal, DeployError, type Goal } from './execute/deploy.js';
export { type Generation, GenerationStore } from './execute/generations.js';
export { createReporter, type Reporter } from './execute/report.js';
export { classifySshFailure, SshConnection, SshError, type SshSettings } from './execute/ssh.js';
export { describeTransition, planTransition, type Transition } from './execute/transition.js';
export { AgentClient, describeAgentAddress } from './execute/transport.js';
export { COORDINATOR, createLogger, type Logger } from './log.js';
export { distributionToJson, normalizeDistribution } from './models/distribution.js';
export { agentAddressOf, normalizeInfrastructure, targetHostname } from './models/infrastructure.js';
export { evaluateModel, importModel } from './models/load.js';
export {
  evaluateModels,
  type LoadedModels,
  type LoadModelsOptions,
  loadModels,
  type ModelFiles,
  type ModelSources,
  planDistribution,
  planManifest,
  planPorts,
} from './models/pipeline.js';
export {
  type CheckedServices,
  checkServices,
  evaluateServicesModel,
  type ServiceSpec,
} from './models/services.js';
export * from './models/types.js';
export {
  checkDistributionServices,
  checkPlacementConflicts,
  targetSpecificWarnings,
} from './models/validate.js';
export * from './plan/filters.js';
export {
  generateDistribution,
  initialDistribution,
  type QosModel,
  type QosModelArgs,
} from './plan/gendist.js';
export { identityHash, toCanonicalJson } from './plan/identity.js';
export { type BuildManifestInput, type BuiltManifest, buildManifest } from './plan/manifest.js';
export { naturalCompare, naturalSort, sortKeysNaturally } from './plan/natural-sort.js';
export * from './plan/ports.js';
export { buildRouteTable, type RoutedService } from './plan/route-tables.js';
export {
  invertDistribution,
  TARGET_SPECIFIC,
  targetSpecific,
  targetSpecificDistribution,
  targetSpecificTo,
} from './plan/target-specific.js';
export * from './plan/types.js';
export { manifestToDot, renderSvg } from './plan/visualize.js';
