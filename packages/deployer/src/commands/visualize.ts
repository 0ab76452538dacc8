import { extname } from 'node:path';
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
    'rendered by Graphviz (built in, compiled to WebAssembly). Other formats (PNG, PDF) need a native Graphviz:',
    '  nodix visualize ... -o deployment.dot && dot -Tpng deployment.dot -o deployment.png',
    '',
    'Options:',
    ...MODEL_FILES_HELP,
    '  -f, --format dot|svg       default: from the extension of -o (.dot or .gv: dot, .svg: svg), else dot',
    MODEL_OPTIONS_HELP.extraParams,
    MODEL_OPTIONS_HELP.output,
    MODEL_OPTIONS_HELP.help,
  ].join('\n'),
  async run(argv, io) {
    const parsed = parseCommandArgs(visualizeCommand, argv, io, OPTIONS);
    if (!parsed) return 0;
    const { values } = parsed;
    const format = outputFormat(values.format, values.output);
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

/** Extensions of -o and the format each means. PNG would need a native renderer, which nodix does not ship. */
const FORMAT_OF_EXTENSION: Record<string, 'dot' | 'svg'> = { '.dot': 'dot', '.gv': 'dot', '.svg': 'svg' };
const SUPPORTED = `${Object.keys(FORMAT_OF_EXTENSION).join(', ')} (for PNG: write .dot and run Graphviz's dot -Tpng)`;

/**
 * The format to write: `--format`, else what the extension of `-o` says. An extension that names another format
 * (out.png) is refused rather than filled with DOT text, and so is a --format that contradicts the extension.
 */
function outputFormat(format: string | undefined, output: string | undefined): 'dot' | 'svg' {
  if (format !== undefined && format !== 'dot' && format !== 'svg') {
    throw new UsageError(`visualize: --format must be dot or svg, not '${format}'`);
  }
  if (output === undefined || output === '-') return format ?? 'dot';
  const extension = extname(output).toLowerCase();
  const implied = FORMAT_OF_EXTENSION[extension];
  if (implied === undefined) {
    throw new UsageError(
      `visualize: -o ${output}: ${extension ? `unsupported extension '${extension}'` : 'no extension'}; supported: ${SUPPORTED}`,
    );
  }
  if (format !== undefined && format !== implied) {
    throw new UsageError(`visualize: --format ${format} does not match -o ${output} (${implied})`);
  }
  return implied;
}
