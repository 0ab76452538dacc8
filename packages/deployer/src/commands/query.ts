import type { ServicesResponse } from '../agent/api.js';
import type { ServiceStatus } from '../agent/supervisor.js';
import { NodixError, UsageError } from '../errors.js';
import { GenerationStore } from '../execute/generations.js';
import { agentAddressesOf, agentAddressesOfManifests } from '../execute/targets.js';
import { AgentClient, describeAgentAddress } from '../execute/transport.js';
import { loadModels } from '../models/pipeline.js';
import type { AgentAddress } from '../plan/types.js';
import type { Command } from './command.js';
import {
  agentToken,
  COORDINATOR_OPTIONS,
  COORDINATOR_OPTIONS_HELP,
  coordinatorStateDir,
  sshSettings,
} from './coordinator-options.js';
import { MODEL_OPTIONS, MODEL_OPTIONS_HELP, parseExtraParams } from './model-options.js';
import { parseCommandArgs } from './parse-args.js';

const OPTIONS = {
  infrastructure: MODEL_OPTIONS.infrastructure,
  'extra-params': MODEL_OPTIONS['extra-params'],
  ...COORDINATOR_OPTIONS,
  json: { type: 'boolean' },
} as const;

const usage = [
  'Usage: nodix query [-i INFRASTRUCTURE] [--json] [options]',
  '',
  "Asks every target's agent what runs there: per service its state, PID, port, restarts and uptime, and who holds",
  "the target's lock. Without -i, the targets of the current generation are asked. Exits 1 if an agent cannot be",
  'reached (the others are still shown).',
  '',
  'Options:',
  MODEL_OPTIONS_HELP.infrastructure,
  MODEL_OPTIONS_HELP.extraParams,
  COORDINATOR_OPTIONS_HELP.stateDir,
  COORDINATOR_OPTIONS_HELP.tokenFile,
  COORDINATOR_OPTIONS_HELP.sshConfig,
  COORDINATOR_OPTIONS_HELP.sshOption,
  '      --json                 print JSON: { "targets": { name: { agent, services, lock } | { agent, error } } }',
  MODEL_OPTIONS_HELP.help,
].join('\n');

/** `1h 2m`, `3m 4s`, `5s`: enough to see at a glance whether something restarted lately. */
export function formatUptime(ms: number | null): string {
  if (ms === null) return '-';
  const seconds = Math.floor(ms / 1000);
  const [d, h, m, s] = [
    Math.floor(seconds / 86400),
    Math.floor(seconds / 3600) % 24,
    Math.floor(seconds / 60) % 60,
    seconds % 60,
  ];
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

function table(services: ServiceStatus[]): string[] {
  const rows = [
    ['SERVICE', 'TYPE', 'STATE', 'PID', 'PORT', 'RESTARTS', 'UPTIME'],
    ...services.map((s) => [
      s.name,
      s.type,
      s.state,
      String(s.pid ?? '-'),
      String(s.port ?? '-'),
      String(s.restarts),
      formatUptime(s.uptimeMs),
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map(
    (row) =>
      `  ${row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd()}`,
  );
}

type TargetAnswer = { agent: AgentAddress } & (
  | ServicesResponse
  | { error: { code: string; message: string } }
);

export const queryCommand: Command = {
  name: 'query',
  summary: 'show what runs on every target: PID, port, state, restarts, uptime',
  usage,
  async run(argv, io) {
    const parsed = parseCommandArgs(queryCommand, argv, io, OPTIONS);
    if (!parsed) return 0;
    const { values } = parsed;
    let addresses: Map<string, AgentAddress>;
    if (values.infrastructure !== undefined) {
      const models = await loadModels({
        files: { infrastructure: values.infrastructure },
        cwd: io.cwd,
        extraParams: parseExtraParams(values['extra-params']),
      });
      addresses = agentAddressesOf(models.infrastructure);
    } else {
      const store = new GenerationStore(coordinatorStateDir(io, values['state-dir']));
      addresses = agentAddressesOfManifests(await store.currentManifest());
      if (addresses.size === 0) {
        throw new UsageError('query: no -i given and nothing is deployed; name the infrastructure with -i');
      }
    }
    const token = await agentToken(io, values['token-file']);
    const ssh = sshSettings(io, values);
    const answers: Record<string, TargetAnswer> = {};
    await Promise.all(
      [...addresses].map(async ([target, agent]) => {
        const client = new AgentClient({ target, address: agent, token, ssh });
        try {
          const answer = await client.services();
          answers[target] = { agent, ...answer, services: answer.services };
        } catch (error) {
          const code = error instanceof NodixError ? error.code : 'NODIX_ERR_INTERNAL';
          answers[target] = { agent, error: { code, message: (error as Error).message } };
        } finally {
          await client.close();
        }
      }),
    );
    const failed = Object.values(answers).some((answer) => 'error' in answer);
    if (values.json) {
      const targets = Object.fromEntries(
        [...addresses.keys()].map((target) => {
          const answer = answers[target] as TargetAnswer;
          if ('error' in answer) return [target, answer];
          // The full instances are the manifest's business (`nodix manifest`); query reports processes.
          return [
            target,
            { ...answer, services: answer.services.map(({ instance: _instance, ...status }) => status) },
          ];
        }),
      );
      io.stdout.write(`${JSON.stringify({ targets }, null, 2)}\n`);
      return failed ? 1 : 0;
    }
    for (const target of addresses.keys()) {
      const answer = answers[target] as TargetAnswer;
      const where = describeAgentAddress(answer.agent);
      if ('error' in answer) {
        io.stdout.write(`[target: ${target}] agent ${where}: ERROR ${answer.error.message}\n`);
        continue;
      }
      const lock =
        answer.lock && answer.lock.expiresAt > Date.now() ? `, locked by ${answer.lock.owner}` : '';
      io.stdout.write(`[target: ${target}] agent ${where}: ${answer.services.length} service(s)${lock}\n`);
      if (answer.services.length) io.stdout.write(`${table(answer.services).join('\n')}\n`);
    }
    return failed ? 1 : 0;
  },
};
