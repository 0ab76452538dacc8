export { main, topLevelUsage } from './cli.js';
export type { Command, CommandIO, OutputStream } from './commands/index.js';
export { commands, findCommand } from './commands/index.js';
export { parseCommandArgs, requireOption } from './commands/parse-args.js';
export * from './errors.js';
export { COORDINATOR, createLogger, type Logger } from './log.js';
export * from './plan/types.js';
