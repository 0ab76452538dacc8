import { GenerationStore } from '../execute/generations.js';
import type { Command } from './command.js';
import { COORDINATOR_OPTIONS_HELP, coordinatorStateDir, integerOption } from './coordinator-options.js';
import { parseCommandArgs } from './parse-args.js';

const usage = [
  'Usage: nodix collect-garbage [--keep N] [--dry-run] [--state-dir DIR]',
  '',
  'Deletes old generations: every one but the current one and, with --keep, the N newest of the others. Nothing',
  'running is touched; deleted generations can no longer be rolled back to.',
  '',
  'Options:',
  '      --keep N               keep the N newest generations besides the current one (default 0)',
  '      --dry-run              print what would be deleted',
  COORDINATOR_OPTIONS_HELP.stateDir,
  '  -h, --help                 show this help',
].join('\n');

export const collectGarbageCommand: Command = {
  name: 'collect-garbage',
  summary: 'delete old generations',
  usage,
  async run(argv, io) {
    const parsed = parseCommandArgs(collectGarbageCommand, argv, io, {
      'state-dir': { type: 'string' },
      keep: { type: 'string' },
      'dry-run': { type: 'boolean' },
    });
    if (!parsed) return 0;
    const { values } = parsed;
    const store = new GenerationStore(coordinatorStateDir(io, values['state-dir']));
    const old = await store.old(integerOption('collect-garbage', '--keep', values.keep) ?? 0);
    if (old.length === 0) {
      io.stdout.write('no old generations\n');
      return 0;
    }
    if (values['dry-run']) {
      io.stdout.write(`would delete generation(s) ${old.join(', ')}\n`);
      return 0;
    }
    const deleted = await store.delete(old);
    io.stdout.write(
      `deleted generation(s) ${deleted.join(', ')}; generation ${await store.current()} is current\n`,
    );
    return 0;
  },
};
