import { captureInfrastructure } from '../adapt/capture.js';
import { AgentClients } from '../execute/targets.js';
import { describeAgentAddress } from '../execute/transport.js';
import { loadModels } from '../models/pipeline.js';
import type { Command } from './command.js';
import {
  agentToken,
  COORDINATOR_OPTIONS,
  COORDINATOR_OPTIONS_HELP,
  integerOption,
  sshSettings,
} from './coordinator-options.js';
import { MODEL_OPTIONS, MODEL_OPTIONS_HELP, parseExtraParams } from './model-options.js';
import { parseCommandArgs, requireOption } from './parse-args.js';

const OPTIONS = {
  infrastructure: MODEL_OPTIONS.infrastructure,
  'extra-params': MODEL_OPTIONS['extra-params'],
  'token-file': COORDINATOR_OPTIONS['token-file'],
  'ssh-config': COORDINATOR_OPTIONS['ssh-config'],
  'ssh-option': COORDINATOR_OPTIONS['ssh-option'],
  timeout: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const DEFAULT_TIMEOUT_MS = 5000;

const usage = [
  'Usage: nodix capture-infra -i INFRASTRUCTURE [--json] [--timeout MS] [--token-file FILE] [--ssh-config FILE]',
  '',
  "Asks every target's agent what the machine is (disnix-capture-infra): host name, CPU count, memory, Node and",
  'nodix version. Prints the infrastructure model with, per target that answered, its declared properties and the',
  'captured ones under `captured` (declared properties are never overwritten: `hostname` stays how the target is',
  'reached); the targets that did not answer are listed apart, with the reason. Exits 1 if a target is unreachable',
  '(the others are still printed).',
  '',
  'Options:',
  MODEL_OPTIONS_HELP.infrastructure,
  MODEL_OPTIONS_HELP.extraParams,
  COORDINATOR_OPTIONS_HELP.tokenFile,
  COORDINATOR_OPTIONS_HELP.sshConfig,
  COORDINATOR_OPTIONS_HELP.sshOption,
  `      --timeout MS           how long each agent may take to answer (default ${DEFAULT_TIMEOUT_MS})`,
  '      --json                 print { "infrastructure": { name: { properties: { ..., captured } } },',
  '                             "unreachable": { name: { agent, properties, error } } }; the first member is an',
  '                             infrastructure model nodix accepts as -i',
  MODEL_OPTIONS_HELP.help,
].join('\n');

const GIB = 1024 ** 3;

export const captureInfraCommand: Command = {
  name: 'capture-infra',
  summary: "ask every target's agent what the machine is (disnix-capture-infra)",
  usage,
  async run(argv, io) {
    const parsed = parseCommandArgs(captureInfraCommand, argv, io, OPTIONS);
    if (!parsed) return 0;
    const { values } = parsed;
    const file = requireOption(captureInfraCommand, values.infrastructure, '-i/--infrastructure');
    const timeoutMs = integerOption('capture-infra', '--timeout', values.timeout) ?? DEFAULT_TIMEOUT_MS;
    const { infrastructure } = await loadModels({
      files: { infrastructure: file },
      cwd: io.cwd,
      extraParams: parseExtraParams(values['extra-params']),
    });
    const token = await agentToken(io, values['token-file']);
    const clients = new AgentClients(token, sshSettings(io, values));
    let captured: Awaited<ReturnType<typeof captureInfrastructure>>;
    try {
      captured = await captureInfrastructure(infrastructure, clients, Math.max(1, timeoutMs));
    } finally {
      await clients.close();
    }
    const failed = Object.keys(captured.unreachable).length > 0;
    if (values.json) {
      const model = Object.fromEntries(
        Object.entries(captured.reachable).map(([name, target]) => [name, { properties: target.properties }]),
      );
      io.stdout.write(
        `${JSON.stringify({ infrastructure: model, unreachable: captured.unreachable }, null, 2)}\n`,
      );
      return failed ? 1 : 0;
    }
    for (const [name, { agent, properties }] of Object.entries(captured.reachable)) {
      const { captured: facts, ...declared } = properties;
      io.stdout.write(`[target: ${name}] agent ${describeAgentAddress(agent)}: reachable\n`);
      io.stdout.write(`  declared: ${JSON.stringify(declared)}\n`);
      io.stdout.write(
        `  captured: host ${facts.hostname}, ${facts.cpus} CPU(s), ${(facts.memoryBytes / GIB).toFixed(1)} GiB memory ` +
          `(${(facts.freeMemoryBytes / GIB).toFixed(1)} GiB free), ${facts.platform}/${facts.arch}, Node ${facts.node}, nodix ${facts.nodix}\n`,
      );
    }
    const unreachable = Object.entries(captured.unreachable);
    if (unreachable.length) io.stdout.write('unreachable:\n');
    for (const [name, { error }] of unreachable) io.stdout.write(`  [target: ${name}] ${error.message}\n`);
    return failed ? 1 : 0;
  },
};
