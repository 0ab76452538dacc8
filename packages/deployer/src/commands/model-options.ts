import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FileError, UsageError } from '../errors.js';
import { isRecord } from '../models/describe.js';
import type { ExtraParams } from '../models/types.js';
import type { CommandIO } from './command.js';

/** The model options every planning command shares, spelled as in Disnix (`-s -i -d`). */
export const MODEL_OPTIONS = {
  services: { type: 'string', short: 's' },
  infrastructure: { type: 'string', short: 'i' },
  distribution: { type: 'string', short: 'd' },
  ports: { type: 'string', short: 'p' },
  'extra-params': { type: 'string' },
} as const;

export const MODEL_OPTIONS_HELP = {
  services: '  -s, --services FILE        services model (.ts, .mts, .js, .mjs or .json)',
  infrastructure: '  -i, --infrastructure FILE  infrastructure model',
  distribution: '  -d, --distribution FILE    distribution model, or the JSON `nodix gendist` prints',
  ports:
    '  -p, --ports FILE           ports file written by `nodix port-assign` (the services model gets its `ports`)',
  extraParams: `      --extra-params JSON    an object passed to every model function, e.g. '{"count": 20}'`,
  output: '  -o, --output FILE          write the result to FILE instead of standard output',
  help: '  -h, --help                 show this help',
};

/** The help of `-s -i -d -p`, in that order, for the commands that take every model file. */
export const MODEL_FILES_HELP = [
  MODEL_OPTIONS_HELP.services,
  MODEL_OPTIONS_HELP.infrastructure,
  MODEL_OPTIONS_HELP.distribution,
  MODEL_OPTIONS_HELP.ports,
];

/** `--extra-params`: a JSON object, or a usage error that says what is wrong with it. */
export function parseExtraParams(text: string | undefined): ExtraParams {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--extra-params: not valid JSON (${(error as Error).message})`);
  }
  if (!isRecord(value)) throw new UsageError(`--extra-params: must be a JSON object, e.g. '{"count": 20}'`);
  return value;
}

/**
 * Writes a command's result to `-o FILE` (whole or not at all: a temporary file renamed over the target, so a
 * ports file is never left half written) or to standard output.
 */
export async function writeOutput(io: CommandIO, output: string | undefined, text: string): Promise<void> {
  if (output === undefined || output === '-') {
    io.stdout.write(text);
    return;
  }
  const path = resolve(io.cwd, output);
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, text);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new FileError(output, `cannot be written: ${(error as Error).message}`, { cause: error });
  }
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
