import { join, resolve } from 'node:path';
import type { AdaptEvent } from '../adapt/events.js';
import { formatEvent } from '../adapt/events.js';
import { replan } from '../adapt/replan.js';
import { selfAdapt } from '../adapt/self-adapt.js';
import { UsageError } from '../errors.js';
import { createReporter } from '../execute/report.js';
import { EMPTY_MANIFEST } from '../execute/transition.js';
import { importModel, readJsonFile } from '../models/load.js';
import { evaluateModels } from '../models/pipeline.js';
import { parsePortsFile } from '../plan/ports.js';
import { shellQuote } from '../shell-quote.js';
import type { Command } from './command.js';
import {
  agentToken,
  COORDINATOR_OPTIONS,
  COORDINATOR_OPTIONS_HELP,
  coordinatorStateDir,
  integerOption,
  sshResumeArguments,
  sshSettings,
} from './coordinator-options.js';
import { MODEL_OPTIONS, MODEL_OPTIONS_HELP, parseExtraParams } from './model-options.js';
import { parseCommandArgs, requireOption } from './parse-args.js';

const OPTIONS = {
  services: MODEL_OPTIONS.services,
  infrastructure: MODEL_OPTIONS.infrastructure,
  qos: { type: 'string', short: 'q' },
  ports: MODEL_OPTIONS.ports,
  'extra-params': MODEL_OPTIONS['extra-params'],
  ...COORDINATOR_OPTIONS,
  interval: { type: 'string' },
  'probe-timeout': { type: 'string' },
  'down-after': { type: 'string' },
  'up-after': { type: 'string' },
  once: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  rebalance: { type: 'boolean' },
  'ready-timeout': { type: 'string' },
  json: { type: 'boolean' },
} as const;

const DEFAULTS = { intervalS: 2, probeTimeoutMs: 1000, downAfter: 3, upAfter: 3 };

const usage = [
  'Usage: nodix self-adapt -s SERVICES -i INFRASTRUCTURE -q QOS [-p PORTS.json] [options]',
  '',
  'Keeps the deployment fitting the machines that are there (dydisnix-self-adapt). Every interval it asks each',
  "target's agent for its facts (as `nodix capture-infra`). A target counts as gone after --down-after failed",
  'probes in a row and as back after --up-after good ones. When the set of live targets changes, the qos model',
  'places the services again over the live targets, with the previous distribution (a service whose target is',
  'still live may only stay there; the others may go to any live target), ports are assigned keeping the previous',
  'ones, and only the difference is deployed, through the same locked, rolled-back, recorded deploy as',
  '`nodix deploy`. A target that is gone is not touched: its part of the manifest is carried over as it was.',
  'A service the qos model finds no room for is reported by name with what each target has left; the rest moves.',
  'A target that comes back gets nothing back (its leftovers are removed) unless --rebalance is given: then',
  'every service is placed from scratch. With nothing deployed yet, the first round deploys the first placement.',
  'A qos model that throws or a deploy that fails leaves the current generation serving; the adaptation is',
  'retried the next round. SIGINT/SIGTERM stop it between rounds, never during a deploy.',
  '',
  'Options:',
  MODEL_OPTIONS_HELP.services,
  MODEL_OPTIONS_HELP.infrastructure,
  '  -q, --qos FILE             qos model (see `nodix gendist --help`); it gets the live targets, each with',
  '                             `properties.captured` (the facts its agent reported)',
  '  -p, --ports FILE           the previous port-assign output (assignments that never move)',
  MODEL_OPTIONS_HELP.extraParams,
  COORDINATOR_OPTIONS_HELP.stateDir,
  COORDINATOR_OPTIONS_HELP.tokenFile,
  COORDINATOR_OPTIONS_HELP.sshConfig,
  COORDINATOR_OPTIONS_HELP.sshOption,
  `      --interval S           seconds between probes (default ${DEFAULTS.intervalS}; fractions allowed)`,
  `      --probe-timeout MS     how long a probe may take (default ${DEFAULTS.probeTimeoutMs}, at most the interval)`,
  `      --down-after N         failed probes in a row before a target counts as gone (default ${DEFAULTS.downAfter})`,
  `      --up-after M           good probes in a row before a gone target counts as back (default ${DEFAULTS.upAfter})`,
  '      --rebalance            when a target comes back, place everything from scratch (it gets its share again)',
  '      --once                 stop after the first round in which every target is decided',
  '      --dry-run              print the decisions and the plans, deploy nothing',
  '      --ready-timeout MS     how long each service may take to become ready (default 10000)',
  '      --json                 one JSON object per decision or probe line on standard output',
  MODEL_OPTIONS_HELP.help,
  '',
  'Output: one line per decision on standard output (which target changed, what moved where, the generation),',
  "and the deploy's step lines on standard error.",
  'Exit codes: 0 stopped (by a signal, or --once and the adaptation worked), 1 --once and the adaptation failed,',
  '2 usage or model error.',
].join('\n');

/** A positive number of seconds (`0.5`, `2`), or a usage error naming the option. */
function secondsOption(option: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0)
    throw new UsageError(`self-adapt: ${option} must be a number of seconds > 0, got '${value}'`);
  return Number(value);
}

function positiveOption(option: string, value: string | undefined, fallback: number): number {
  const number = integerOption('self-adapt', option, value) ?? fallback;
  if (number < 1) throw new UsageError(`self-adapt: ${option} must be at least 1, got '${value}'`);
  return number;
}

export const selfAdaptCommand: Command = {
  name: 'self-adapt',
  summary: 're-place and redeploy the services when a target goes away or comes back (dydisnix-self-adapt)',
  usage,
  async run(argv, io) {
    const parsed = parseCommandArgs(selfAdaptCommand, argv, io, OPTIONS);
    if (!parsed) return 0;
    const { values } = parsed;
    const files = {
      services: requireOption(selfAdaptCommand, values.services, '-s/--services'),
      infrastructure: requireOption(selfAdaptCommand, values.infrastructure, '-i/--infrastructure'),
      qos: requireOption(selfAdaptCommand, values.qos, '-q/--qos'),
      ports: values.ports,
    };
    const intervalMs = Math.round(secondsOption('--interval', values.interval, DEFAULTS.intervalS) * 1000);
    const probeTimeoutMs = Math.min(
      positiveOption('--probe-timeout', values['probe-timeout'], DEFAULTS.probeTimeoutMs),
      intervalMs,
    );
    const downAfter = positiveOption('--down-after', values['down-after'], DEFAULTS.downAfter);
    const upAfter = positiveOption('--up-after', values['up-after'], DEFAULTS.upAfter);
    const readyTimeoutMs = integerOption('self-adapt', '--ready-timeout', values['ready-timeout']);
    const extraParams = parseExtraParams(values['extra-params']);
    const stateDir = coordinatorStateDir(io, values['state-dir']);
    const token = await agentToken(io, values['token-file']);
    const ssh = sshSettings(io, values);

    // Every model is loaded and checked once, before the first probe: a mistake stops it here with exit 2.
    const load = { cacheDir: join(stateDir, 'model-cache') };
    const sources = {
      infrastructure: await importModel(files.infrastructure, io.cwd, load),
      services: await importModel(files.services, io.cwd, load),
      qos: await importModel(files.qos, io.cwd, load),
    };
    const ports =
      files.ports === undefined
        ? undefined
        : parsePortsFile(await readJsonFile(files.ports, resolve(io.cwd, files.ports)), files.ports);
    const { infrastructure } = await evaluateModels(
      { infrastructure: sources.infrastructure, services: sources.services, qos: sources.qos },
      { files: { ...files, ports: undefined }, extraParams },
    );
    const models = { files, sources, infrastructure, extraParams };
    // The qos model and the services model once over every declared target, so that a model that cannot place
    // anything fails now (exit 2) rather than at the first change.
    await replan({
      models,
      live: new Set(Object.keys(infrastructure)),
      previous: {},
      fresh: true,
      ports,
      current: EMPTY_MANIFEST,
      before: {},
    });

    const write = (event: AdaptEvent) =>
      io.stdout.write(
        `${values.json ? JSON.stringify({ time: new Date().toISOString(), ...event }) : formatEvent(event)}\n`,
      );
    const controller = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      if (!controller.signal.aborted) io.stderr.write(`[self-adapt] ${signal}: stopping after this round\n`);
      controller.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const { failed } = await selfAdapt({
        models,
        ports,
        stateDir,
        token,
        ssh,
        intervalMs,
        probeTimeoutMs,
        downAfter,
        upAfter,
        once: values.once ?? false,
        dryRun: values['dry-run'] ?? false,
        rebalance: values.rebalance ?? false,
        readyTimeoutMs,
        resumeCommand: (generation) =>
          [
            `nodix deploy --switch-to-generation ${generation} --state-dir ${shellQuote(stateDir)}`,
            values['token-file'] ? `--token-file ${shellQuote(resolve(io.cwd, values['token-file']))}` : '',
            ...sshResumeArguments(ssh),
          ]
            .filter(Boolean)
            .join(' '),
        emit: write,
        reporter: createReporter(io.stderr),
        signal: controller.signal,
      });
      return values.once && failed ? 1 : 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
