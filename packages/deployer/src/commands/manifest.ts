import type { Command } from './command.js';
import { buildManifestOf, requireModelFiles } from './model-files.js';
import { json, MODEL_FILES_HELP, MODEL_OPTIONS, MODEL_OPTIONS_HELP, writeOutput } from './model-options.js';
import { parseCommandArgs } from './parse-args.js';

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
    ...MODEL_FILES_HELP,
    MODEL_OPTIONS_HELP.extraParams,
    MODEL_OPTIONS_HELP.output,
    MODEL_OPTIONS_HELP.help,
  ].join('\n'),
  async run(argv, io) {
    const parsed = parseCommandArgs(manifestCommand, argv, io, OPTIONS);
    if (!parsed) return 0;
    const { values } = parsed;
    const manifest = await buildManifestOf(
      io,
      requireModelFiles(manifestCommand, values),
      values['extra-params'],
    );
    await writeOutput(io, values.output, json(manifest));
    return 0;
  },
};
