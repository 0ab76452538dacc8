import { agentCommand } from './agent.js';
import { captureInfraCommand } from './capture-infra.js';
import { collectGarbageCommand } from './collect-garbage.js';
import type { Command } from './command.js';
import { deployCommand } from './deploy.js';
import { gendistCommand } from './gendist.js';
import { manifestCommand } from './manifest.js';
import { portAssignCommand } from './port-assign.js';
import { queryCommand } from './query.js';
import { selfAdaptCommand } from './self-adapt.js';
import { visualizeCommand } from './visualize.js';

export type { Command, CommandIO, OutputStream } from './command.js';

/**
 * Every `nodix` sub-command, in the order `nodix --help` lists them. Adding a command is one import and one entry
 * here; `cli.ts` dispatches on `name` and `aliases`.
 */
export const commands: readonly Command[] = [
  gendistCommand,
  portAssignCommand,
  manifestCommand,
  visualizeCommand,
  deployCommand,
  queryCommand,
  collectGarbageCommand,
  captureInfraCommand,
  selfAdaptCommand,
  agentCommand,
];

export function findCommand(name: string, registry: readonly Command[] = commands): Command | undefined {
  return registry.find((command) => command.name === name || command.aliases?.includes(name));
}
