import type { Command } from './command.js';

export type { Command, CommandIO, OutputStream } from './command.js';

/**
 * Every `nodix` sub-command, in the order `nodix --help` lists them. Adding a command is one import and one entry
 * here; `cli.ts` dispatches on `name` and `aliases`.
 */
export const commands: readonly Command[] = [];

export function findCommand(name: string): Command | undefined {
  return commands.find((command) => command.name === name || command.aliases?.includes(name));
}
