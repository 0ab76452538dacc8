import { join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { applyGoal, type Goal } from '../execute/deploy.js';
import { GenerationStore } from '../execute/generations.js';
import { createReporter } from '../execute/report.js';
import { EMPTY_MANIFEST } from '../execute/transition.js';
import type { Manifest } from '../plan/types.js';
import { shellQuote } from '../shell-quote.js';
import type { Command, CommandIO } from './command.js';
import {
  agentToken,
  COORDINATOR_OPTIONS,
  COORDINATOR_OPTIONS_HELP,
  coordinatorStateDir,
  integerOption,
  sshResumeArguments,
  sshSettings,
} from './coordinator-options.js';
import { buildManifestOf } from './model-files.js';
import { MODEL_FILES_HELP, MODEL_OPTIONS, MODEL_OPTIONS_HELP } from './model-options.js';
import { parseCommandArgs } from './parse-args.js';

const OPTIONS = {
  ...MODEL_OPTIONS,
  ...COORDINATOR_OPTIONS,
  'dry-run': { type: 'boolean' },
  'no-lock': { type: 'boolean' },
  'ready-timeout': { type: 'string' },
  rollback: { type: 'boolean' },
  'switch-to-generation': { type: 'string' },
  'list-generations': { type: 'boolean' },
  'delete-generations': { type: 'string' },
  undeploy: { type: 'boolean' },
} as const;

const usage = [
  'Usage: nodix deploy -s SERVICES -i INFRASTRUCTURE -d DISTRIBUTION [-p PORTS.json] [options]',
  '       nodix deploy --rollback | --switch-to-generation N | --undeploy [options]',
  '       nodix deploy --list-generations | --delete-generations old|N[,N...] [--state-dir DIR]',
  '',
  "Brings every target to the models' configuration, the way disnix-env does: builds the manifests, compares them",
  'with the current generation (the plan: per target, services added, removed, changed; untouched targets get',
  'nothing), locks the targets involved (all or nothing), deactivates obsolete services (dependents first),',
  'activates new ones (dependencies first), targets in parallel, records generation N and unlocks. Any failure',
  'rolls back to the previous generation and exits 1; if the rollback fails too, the command that resumes it is',
  'printed. Agent addresses come from target properties agentHost (else hostname) and agentPort (else 7411).',
  '',
  'Options:',
  ...MODEL_FILES_HELP,
  MODEL_OPTIONS_HELP.extraParams,
  COORDINATOR_OPTIONS_HELP.stateDir,
  COORDINATOR_OPTIONS_HELP.tokenFile,
  COORDINATOR_OPTIONS_HELP.sshConfig,
  COORDINATOR_OPTIONS_HELP.sshOption,
  '      --dry-run              print the plan and stop',
  '      --no-lock              do not lock the targets',
  '      --ready-timeout MS     how long each service may take to become ready (default 10000)',
  '      --rollback             switch back to the generation before the current one',
  '      --switch-to-generation N  switch to generation N',
  '      --undeploy             deactivate everything (recorded as a new, empty generation)',
  '      --list-generations     list the generations, marking the current one',
  '      --delete-generations old|N[,N...]  delete generations (old: all but the current one)',
  MODEL_OPTIONS_HELP.help,
  '',
  'Exit codes: 0 deployed (or nothing to do), 1 failed (rolled back unless said otherwise), 2 usage or model error.',
].join('\n');

function summarize(manifest: Manifest): string {
  const targets = Object.values(manifest.targets);
  const services = targets.reduce((sum, target) => sum + Object.keys(target.services).length, 0);
  return `${targets.length} target(s), ${services} service(s)`;
}

async function listGenerations(io: CommandIO, store: GenerationStore): Promise<number> {
  const current = await store.current();
  const generations = await store.list();
  if (generations.length === 0) {
    io.stdout.write('no generations yet\n');
    return 0;
  }
  for (const number of generations) {
    const generation = await store.read(number);
    const mark = number === current ? '(current)' : '';
    io.stdout.write(
      `${String(number).padStart(4)}  ${generation.createdAt}  ${summarize(generation.manifest).padEnd(28)} ${mark}\n`,
    );
  }
  return 0;
}

async function deleteGenerations(io: CommandIO, store: GenerationStore, which: string): Promise<number> {
  let numbers: number[];
  if (which === 'old') numbers = await store.old();
  else if (/^\d+(,\d+)*$/.test(which)) numbers = which.split(',').map(Number);
  else
    throw new UsageError(
      `deploy: --delete-generations takes 'old' or generation numbers (1,2,3), got '${which}'`,
    );
  const deleted = await store.delete(numbers);
  io.stdout.write(
    deleted.length ? `deleted generation(s) ${deleted.join(', ')}\n` : 'no generation to delete\n',
  );
  return 0;
}

export const deployCommand: Command = {
  name: 'deploy',
  aliases: ['env'],
  summary: 'deploy the models to the targets through their agents, with generations and rollback',
  usage,
  async run(argv, io) {
    const parsed = parseCommandArgs(deployCommand, argv, io, OPTIONS);
    if (!parsed) return 0;
    const { values } = parsed;
    const stateDir = coordinatorStateDir(io, values['state-dir']);
    const store = new GenerationStore(stateDir);

    const modes = (
      ['rollback', 'switch-to-generation', 'list-generations', 'delete-generations', 'undeploy'] as const
    ).filter((mode) => values[mode] !== undefined && values[mode] !== false);
    if (modes.length > 1) {
      throw new UsageError(`deploy: --${modes[0]} and --${modes[1]} cannot be combined`);
    }
    const mode = modes[0];
    const modelGiven = values.services !== undefined || values.distribution !== undefined;
    if (mode !== undefined && modelGiven) {
      throw new UsageError(`deploy: --${mode} takes no -s/-d models (it works on recorded generations)`);
    }
    if (mode === 'list-generations') return listGenerations(io, store);
    if (mode === 'delete-generations')
      return deleteGenerations(io, store, values['delete-generations'] as string);

    // Every argument is checked before the first line of progress: a usage error is the only output then.
    const token = await agentToken(io, values['token-file']);
    const ssh = sshSettings(io, values);
    const readyTimeoutMs = integerOption('deploy', '--ready-timeout', values['ready-timeout']);
    let goal: Goal | undefined;
    if (mode === 'rollback') {
      const current = await store.current();
      const previous = (await store.list()).filter((generation) => generation < current).at(-1);
      if (previous === undefined)
        throw new UsageError(`deploy: no generation before ${current} to roll back to`);
      goal = { kind: 'generation', generation: previous };
    } else if (mode === 'switch-to-generation') {
      const generation = integerOption(
        'deploy',
        '--switch-to-generation',
        values['switch-to-generation'],
      ) as number;
      if (generation > 0 && !(await store.list()).includes(generation)) {
        throw new UsageError(`deploy: generation ${generation} does not exist (see --list-generations)`);
      }
      goal = { kind: 'generation', generation };
    } else if (mode === 'undeploy') {
      goal = { kind: 'manifest', manifest: EMPTY_MANIFEST, description: 'nodix deploy --undeploy' };
    } else {
      const missing = [
        values.services === undefined ? '-s/--services' : '',
        values.infrastructure === undefined ? '-i/--infrastructure' : '',
        values.distribution === undefined ? '-d/--distribution' : '',
      ].filter(Boolean);
      if (missing.length)
        throw new UsageError(`deploy: missing ${missing.join(', ')} (see 'nodix deploy --help')`);
    }

    const reporter = createReporter(io.stdout);
    reporter.step(undefined, `nodix deploy started at ${new Date().toISOString()} (state ${stateDir})`);
    if (goal === undefined) {
      const start = reporter.now();
      const manifest = await buildManifestOf(
        io,
        {
          services: values.services,
          infrastructure: values.infrastructure as string,
          distribution: values.distribution,
          ports: values.ports,
        },
        values['extra-params'],
        // Compiled TypeScript models are kept with the generations: the next deploy of unchanged models skips esbuild.
        join(stateDir, 'model-cache'),
      );
      reporter.step(undefined, `built manifests: ${summarize(manifest)} (${reporter.since(start)} ms)`);
      goal = { kind: 'manifest', manifest, description: `nodix deploy ${argv.join(' ')}` };
    }

    const resumeCommand = (generation: number) =>
      [
        'nodix deploy',
        `--switch-to-generation ${generation}`,
        `--state-dir ${shellQuote(stateDir)}`,
        values['token-file'] ? `--token-file ${shellQuote(resolve(io.cwd, values['token-file']))}` : '',
        ...sshResumeArguments(ssh),
        values['no-lock'] ? '--no-lock' : '',
      ]
        .filter(Boolean)
        .join(' ');
    const result = await applyGoal(goal, {
      stateDir,
      token,
      ssh,
      reporter,
      lock: !values['no-lock'],
      dryRun: values['dry-run'] ?? false,
      readyTimeoutMs,
      resumeCommand,
    });
    reporter.step(undefined, `done: generation ${result.generation} is current`);
    return 0;
  },
};
