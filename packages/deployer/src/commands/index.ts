import type { Command } from './command.js';
import { gendistCommand } from './gendist.js';
import { manifestCommand } from './manifest.js';
import { portAssignCommand } from './port-assign.js';
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
];

export function findCommand(name: string): Command | undefined {
  return commands.find((command) => command.name === name || command.aliases?.includes(name));
}
