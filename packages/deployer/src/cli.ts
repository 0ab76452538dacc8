import { type Command, type CommandIO, commands, findCommand } from './commands/index.js';
import { NodixError, UsageError } from './errors.js';
import { VERSION_LINE } from './version.js';

export function topLevelUsage(registry: readonly Command[] = commands): string {
  const width = Math.max(...registry.map((command) => command.name.length), 8);
  const lines = registry.map((command) => {
    const aliases = command.aliases?.length ? ` (alias: ${command.aliases.join(', ')})` : '';
    return `  ${command.name.padEnd(width)}  ${command.summary}${aliases}`;
  });
  return [
    'Usage: nodix <command> [options]',
    '',
    'Deploys services to machines from models, the way Disnix does.',
    '',
    'Commands:',
    ...lines,
    '',
    "Run 'nodix <command> --help' for a command's options; 'nodix --version' (or 'nodix <command> --version')",
    'prints the version.',
    '',
    'Exit codes: 0 success, 1 failure at run time, 2 usage or model error.',
    '',
  ].join('\n');
}

/**
 * The whole CLI: dispatches to a command and is the ONE place errors are turned into messages and exit codes.
 * Expected errors (NodixError) print one line; anything else is a bug and prints its stack so it can be reported.
 */
export async function main(
  argv: string[],
  io: CommandIO,
  registry: readonly Command[] = commands,
): Promise<number> {
  try {
    const [name, ...rest] = argv;
    if (name === undefined) {
      io.stderr.write(topLevelUsage(registry));
      return 2;
    }
    if (name === '--help' || name === '-h' || name === 'help') {
      io.stdout.write(topLevelUsage(registry));
      return 0;
    }
    if (name === '--version' || name === '-v') {
      io.stdout.write(VERSION_LINE);
      return 0;
    }
    const command = findCommand(name, registry);
    if (!command) {
      throw new UsageError(`unknown command '${name}' (see 'nodix --help')`);
    }
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof NodixError) {
      io.stderr.write(`nodix: ${error.message}\n`);
      return error.exitCode;
    }
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    io.stderr.write(`nodix: internal error (this is a bug)\n${detail}\n`);
    return 1;
  }
}
