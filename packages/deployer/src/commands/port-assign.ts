import { createLogger } from '../log.js';
import { planPorts } from '../models/pipeline.js';
import { DEFAULT_PRIVATE_RANGE, DEFAULT_SHARED_RANGE, parsePortRange } from '../plan/ports.js';
import type { Command } from './command.js';
import { requireModelFiles } from './model-files.js';
import { json, MODEL_OPTIONS, MODEL_OPTIONS_HELP, parseExtraParams, writeOutput } from './model-options.js';
import { parseCommandArgs } from './parse-args.js';

const OPTIONS = {
  ...MODEL_OPTIONS,
  'shared-range': { type: 'string' },
  'private-range': { type: 'string' },
  output: { type: 'string', short: 'o' },
} as const;

const range = (r: { min: number; max: number }) => `${r.min}-${r.max}`;

export const portAssignCommand: Command = {
  name: 'port-assign',
  summary: 'assign TCP ports to the services that ask for one (dydisnix-port-assign)',
  usage: [
    'Usage: nodix port-assign -s SERVICES -i INFRASTRUCTURE -d DISTRIBUTION [-p PREVIOUS.json] [-o PORTS.json]',
    '',
    "Gives every placed service with portAssign: 'shared' a port from one global pool and every one with",
    "portAssign: 'private' a port from the pool of the targets it runs on. Previous assignments (-p) never move;",
    'services that are gone lose theirs; new ones get the next free port after the last one, wrapping around.',
    'Prints { "ports": { "webapp1": 3000, ... }, "shared": ..., "private": ... }; pass it back with -p.',
    '',
    'Options:',
    MODEL_OPTIONS_HELP.services,
    MODEL_OPTIONS_HELP.infrastructure,
    MODEL_OPTIONS_HELP.distribution,
    '  -p, --ports FILE           the previous port-assign output: kept assignments, and `ports` for the model',
    `      --shared-range MIN-MAX the shared pool (default: the previous file's, else ${range(DEFAULT_SHARED_RANGE)})`,
    `      --private-range MIN-MAX the per-target pools (default: the previous file's, else ${range(DEFAULT_PRIVATE_RANGE)})`,
    MODEL_OPTIONS_HELP.extraParams,
    MODEL_OPTIONS_HELP.output,
    MODEL_OPTIONS_HELP.help,
  ].join('\n'),
  async run(argv, io) {
    const parsed = parseCommandArgs(portAssignCommand, argv, io, OPTIONS);
    if (!parsed) return 0;
    const { values } = parsed;
    const sharedRange =
      values['shared-range'] === undefined
        ? undefined
        : parsePortRange(values['shared-range'], '--shared-range');
    const privateRange =
      values['private-range'] === undefined
        ? undefined
        : parsePortRange(values['private-range'], '--private-range');
    const { ports } = await planPorts({
      files: requireModelFiles(portAssignCommand, values),
      cwd: io.cwd,
      extraParams: parseExtraParams(values['extra-params']),
      sharedRange,
      privateRange,
    });
    await writeOutput(io, values.output, json(ports));
    if (values.output !== undefined) {
      createLogger(io.stderr).info(`${Object.keys(ports.ports).length} port(s) written to ${values.output}`);
    }
    return 0;
  },
};
