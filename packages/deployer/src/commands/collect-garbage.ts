import { collectTargetGarbage } from '../execute/garbage.js';
import { GenerationStore } from '../execute/generations.js';
import { createReporter } from '../execute/report.js';
import type { Command } from './command.js';
import {
  agentToken,
  COORDINATOR_OPTIONS,
  COORDINATOR_OPTIONS_HELP,
  coordinatorStateDir,
  integerOption,
  sshSettings,
} from './coordinator-options.js';
import { parseCommandArgs } from './parse-args.js';

const usage = [
  'Usage: nodix collect-garbage [--keep N] [--dry-run] [--state-dir DIR] [--token-file FILE]',
  '',
  'Deletes old generations: every one but the current one and, with --keep, the N newest of the others; deleted',
  'generations can no longer be rolled back to. Then, as disnix-collect-garbage does, it cleans the targets: the',
  'agent of every target a recorded generation names deletes the directories and logs of the services it does not',
  'run and that no kept generation places on it. Nothing running is touched, nor anything a kept generation uses.',
  'A target that cannot be reached is reported and the command exits 1 (the generations are deleted anyway).',
  '',
  'Options:',
  '      --keep N               keep the N newest generations besides the current one (default 0)',
  '      --dry-run              print what would be deleted, on the coordinator and on the targets',
  COORDINATOR_OPTIONS_HELP.stateDir,
  COORDINATOR_OPTIONS_HELP.tokenFile,
  COORDINATOR_OPTIONS_HELP.sshConfig,
  COORDINATOR_OPTIONS_HELP.sshOption,
  '  -h, --help                 show this help',
].join('\n');

export const collectGarbageCommand: Command = {
  name: 'collect-garbage',
  summary: 'delete old generations, and on the targets what no kept generation uses',
  usage,
  async run(argv, io) {
    const parsed = parseCommandArgs(collectGarbageCommand, argv, io, {
      ...COORDINATOR_OPTIONS,
      keep: { type: 'string' },
      'dry-run': { type: 'boolean' },
    });
    if (!parsed) return 0;
    const { values } = parsed;
    const keep = integerOption('collect-garbage', '--keep', values.keep) ?? 0;
    const token = await agentToken(io, values['token-file']);
    const dryRun = values['dry-run'] ?? false;
    const store = new GenerationStore(coordinatorStateDir(io, values['state-dir']));
    const old = await store.old(keep);

    // Every generation on record, newest first: the newest says where a target's agent is now.
    const generations = await Promise.all((await store.list()).reverse().map((number) => store.read(number)));
    const targets = await collectTargetGarbage({
      known: generations.map((generation) => generation.manifest),
      kept: generations.filter((generation) => !old.includes(generation.generation)).map((g) => g.manifest),
      token,
      ssh: sshSettings(io, values),
      reporter: createReporter(io.stdout),
      dryRun,
    });
    const failed = targets.filter((target) => target.error !== undefined).map((target) => target.target);

    if (old.length === 0) io.stdout.write('no old generations\n');
    else if (dryRun) io.stdout.write(`would delete generation(s) ${old.join(', ')}\n`);
    else {
      const deleted = await store.delete(old);
      io.stdout.write(
        `deleted generation(s) ${deleted.join(', ')}; generation ${await store.current()} is current\n`,
      );
    }
    if (failed.length > 0) {
      io.stderr.write(
        `nodix: collect-garbage: target(s) ${failed.join(', ')} not cleaned (see above); run it again once they can be reached\n`,
      );
      return 1;
    }
    return 0;
  },
};
