import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from '../errors.js';
import { VERSION_LINE } from '../version.js';
import type { Command, CommandIO } from './command.js';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

const HELP_OPTION = { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } } as const;

type Parsed<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O & typeof HELP_OPTION; strict: true; allowPositionals: true }>
>;

/**
 * Strict argument parsing shared by every command: unknown options and bad values become a UsageError that names
 * the command; `--help`/`-h` prints the command's usage and `--version` the version, and both return `undefined`
 * (the command then returns 0).
 */
export function parseCommandArgs<const O extends ParseArgsOptionsConfig>(
  command: Command,
  argv: string[],
  io: CommandIO,
  options: O,
  { positionals = false }: { positionals?: boolean } = {},
): Parsed<O> | undefined {
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({
      args: joinNegativeValues(argv, options),
      options: { ...options, ...HELP_OPTION },
      strict: true,
      allowPositionals: true,
    }) as Parsed<O>;
  } catch (error) {
    throw new UsageError(
      `${command.name}: ${describeParseError(error)} (see 'nodix ${command.name} --help')`,
      {
        cause: error,
      },
    );
  }
  if ((parsed.values as { version?: boolean }).version) {
    io.stdout.write(VERSION_LINE);
    return undefined;
  }
  if ((parsed.values as { help?: boolean }).help) {
    io.stdout.write(command.usage.endsWith('\n') ? command.usage : `${command.usage}\n`);
    return undefined;
  }
  if (!positionals && parsed.positionals.length > 0) {
    throw new UsageError(
      `${command.name}: unexpected argument '${parsed.positionals[0]}' (see 'nodix ${command.name} --help')`,
    );
  }
  return parsed;
}

/**
 * `--keep -1`: node:util reads `-1` as an option of its own and calls `--keep` ambiguous. A string option followed by
 * something that looks like a negative number takes it as its value (`--keep=-1`), so that the command can say what
 * is wrong with the value (out of range) instead of complaining about the option.
 */
function joinNegativeValues(argv: string[], options: ParseArgsOptionsConfig): string[] {
  const takesValue = new Set<string>();
  for (const [name, option] of Object.entries(options)) {
    if (option.type !== 'string') continue;
    takesValue.add(`--${name}`);
    if (option.short) takesValue.add(`-${option.short}`);
  }
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    if (arg === '--') {
      joined.push(...argv.slice(i));
      break;
    }
    if (takesValue.has(arg) && next !== undefined && /^-\d/.test(next)) {
      joined.push(arg.startsWith('--') ? `${arg}=${next}` : `${arg}${next}`);
      i += 1;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

/** node:util's messages are long and aimed at programmers; keep the part a user needs. */
function describeParseError(error: unknown): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /'([^']+)'/.exec(message)?.[1];
    return option ? `unknown option '${option}'` : 'unknown option';
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const option = /'([^']+)'/.exec(message)?.[1];
    if (/argument missing/.test(message)) return `option '${option}' needs a value`;
    if (/ambiguous/.test(message))
      return `option '${option}' needs a value (write ${option}=-VALUE for one that starts with '-')`;
    return `option '${option}' takes no value`;
  }
  return message;
}

/** A required option: its absence is a usage error naming the option. */
export function requireOption(command: Command, value: string | undefined, option: string): string {
  if (value === undefined || value === '') {
    throw new UsageError(`${command.name}: missing ${option} (see 'nodix ${command.name} --help')`);
  }
  return value;
}
