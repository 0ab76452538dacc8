import { createLogger } from '../log.js';
import { distributionToJson } from '../models/distribution.js';
import { planDistribution } from '../models/pipeline.js';
import type { Command } from './command.js';
import { json, MODEL_OPTIONS, MODEL_OPTIONS_HELP, parseExtraParams, writeOutput } from './model-options.js';
import { parseCommandArgs, requireOption } from './parse-args.js';

const OPTIONS = {
  services: MODEL_OPTIONS.services,
  infrastructure: MODEL_OPTIONS.infrastructure,
  qos: { type: 'string', short: 'q' },
  previous: { type: 'string' },
  'extra-params': MODEL_OPTIONS['extra-params'],
  output: { type: 'string', short: 'o' },
} as const;

export const gendistCommand: Command = {
  name: 'gendist',
  summary: 'generate a distribution from a qos model (dydisnix-gendist)',
  usage: [
    'Usage: nodix gendist -s SERVICES -i INFRASTRUCTURE -q QOS [--previous DIST.json] [-o FILE]',
    '',
    'Evaluates the qos model over every service and target and prints the distribution as JSON,',
    '{ "webapp1": ["test1"], ... }, which the other commands accept with -d.',
    '',
    'Options:',
    MODEL_OPTIONS_HELP.services,
    MODEL_OPTIONS_HELP.infrastructure,
    '  -q, --qos FILE             qos model: ({ services, infrastructure, initialDistribution,',
    '                             previousDistribution, filters }) => distribution',
    '      --previous FILE        the previous gendist output (the qos model gets it as previousDistribution,',
    '                             for filters.keepPrevious)',
    MODEL_OPTIONS_HELP.extraParams,
    MODEL_OPTIONS_HELP.output,
    MODEL_OPTIONS_HELP.help,
    '',
    'Filters: divide (greedy, highest-bidder, lowest-bidder, round-robin), mapAttrOnAttr, mapAttrOnList,',
    'mapListOnAttr, keepPrevious, order, select, targetSpecific.',
  ].join('\n'),
  async run(argv, io) {
    const parsed = parseCommandArgs(gendistCommand, argv, io, OPTIONS);
    if (!parsed) return 0;
    const { values } = parsed;
    const { distribution } = await planDistribution({
      files: {
        services: requireOption(gendistCommand, values.services, '-s/--services'),
        infrastructure: requireOption(gendistCommand, values.infrastructure, '-i/--infrastructure'),
        qos: requireOption(gendistCommand, values.qos, '-q/--qos'),
        previousDistribution: values.previous,
      },
      cwd: io.cwd,
      extraParams: parseExtraParams(values['extra-params']),
    });
    await writeOutput(io, values.output, json(distributionToJson(distribution)));
    if (values.output !== undefined) createLogger(io.stderr).info(`distribution written to ${values.output}`);
    return 0;
  },
};
