import { createLogger } from '../log.js';
import { planManifest } from '../models/pipeline.js';
import type { Command } from './command.js';
import { json, MODEL_OPTIONS, MODEL_OPTIONS_HELP, parseExtraParams, writeOutput } from './model-options.js';
import { parseCommandArgs, requireOption } from './parse-args.js';

const OPTIONS = { ...MODEL_OPTIONS, output: { type: 'string', short: 'o' } } as const;

export const manifestCommand: Command = {
  name: 'manifest',
  summary: 'print what runs where, resolved, with identity hashes and proxy route tables',
  usage: [
    'Usage: nodix manifest -s SERVICES -i INFRASTRUCTURE -d DISTRIBUTION [-p PORTS.json] [-o FILE]',
    '',
    'Prints the manifest as JSON: per target, its agent address and every service instance with its resolved',
    "configuration, its dependencies' addresses, an identity hash (equal hash: nothing to redeploy) and, for a",
    "proxy, its route table in the proxy's format. This is what `nodix deploy` sends to the agents.",
    '',
    'Options:',
    MODEL_OPTIONS_HELP.services,
    MODEL_OPTIONS_HELP.infrastructure,
    MODEL_OPTIONS_HELP.distribution,
    MODEL_OPTIONS_HELP.ports,
    MODEL_OPTIONS_HELP.extraParams,
    MODEL_OPTIONS_HELP.output,
    MODEL_OPTIONS_HELP.help,
  ].join('\n'),
  async run(argv, io) {
    const parsed = parseCommandArgs(manifestCommand, argv, io, OPTIONS);
    if (!parsed) return 0;
    const { values } = parsed;
    const { manifest, warnings } = await planManifest({
      files: {
        services: requireOption(manifestCommand, values.services, '-s/--services'),
        infrastructure: requireOption(manifestCommand, values.infrastructure, '-i/--infrastructure'),
        distribution: requireOption(manifestCommand, values.distribution, '-d/--distribution'),
        ports: values.ports,
      },
      cwd: io.cwd,
      extraParams: parseExtraParams(values['extra-params']),
    });
    const log = createLogger(io.stderr);
    for (const warning of warnings) log.warn(warning);
    await writeOutput(io, values.output, json(manifest));
    return 0;
  },
};
