import { UsageError } from '../errors.js';
import { manifestToDot, renderSvg } from '../plan/visualize.js';
import type { Command } from './command.js';
import { buildManifestOf, requireModelFiles } from './model-files.js';
import { MODEL_FILES_HELP, MODEL_OPTIONS, MODEL_OPTIONS_HELP, writeOutput } from './model-options.js';
import { parseCommandArgs } from './parse-args.js';

const OPTIONS = {
  ...MODEL_OPTIONS,
  format: { type: 'string', short: 'f' },
  output: { type: 'string', short: 'o' },
} as const;

export const visualizeCommand: Command = {
  name: 'visualize',
  summary: 'draw the deployment: targets as clusters, services as nodes (disnix-visualize)',
  usage: [
    'Usage: nodix visualize -s SERVICES -i INFRASTRUCTURE -d DISTRIBUTION [-p PORTS.json] [--format dot|svg] [-o FILE]',
    '',
    'Draws the deployment as a graph: every target a cluster, every service instance a node, an edge from a',
    'service to each instance of what it depends on (dashed: connectsTo). DOT is printed as is; SVG is',
    'rendered by Graphviz (built in, compiled to WebAssembly).',
    '',
    'Options:',
    ...MODEL_FILES_HELP,
    '  -f, --format dot|svg       default: svg when -o ends in .svg, else dot',
    MODEL_OPTIONS_HELP.extraParams,
    MODEL_OPTIONS_HELP.output,
    MODEL_OPTIONS_HELP.help,
  ].join('\n'),
  async run(argv, io) {
    const parsed = parseCommandArgs(visualizeCommand, argv, io, OPTIONS);
    if (!parsed) return 0;
    const { values } = parsed;
    const format = values.format ?? (values.output?.endsWith('.svg') ? 'svg' : 'dot');
    if (format !== 'dot' && format !== 'svg') {
      throw new UsageError(`visualize: --format must be dot or svg, not '${format}'`);
    }
    const manifest = await buildManifestOf(
      io,
      requireModelFiles(visualizeCommand, values),
      values['extra-params'],
    );
    const dot = manifestToDot(manifest);
    await writeOutput(io, values.output, format === 'svg' ? await renderSvg(dot) : dot);
    return 0;
  },
};
