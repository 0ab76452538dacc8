/**
 * Running the deploy-ssh scenario (issue 13). The machines of the end-to-end SSH tests (`test/helpers/machines.ts`
 * `sshMachines()`): network namespaces `test1`, `test2` and `client`, an sshd in each target with a host key and an
 * authorised key made for the run, the coordinator's ssh_config and known_hosts. Each target runs two agents for the
 * whole scenario, both pinned to the servers' core: one on a Unix socket (reached over SSH, as `nodix agent
 * --socket`) and one on TCP port 7411 with a token (reached over HTTP). Each round, in an order rotated round by
 * round, both variants run the same steps from the client namespace:
 *
 * - `nodix deploy` of the 20-webapp example from nothing (a fresh coordinator state dir), timed from spawn to exit;
 *   every webapp must then answer through its target's proxy (curl from the client);
 * - the same command again: nothing changed, so it must make no TCP connection or HTTP request (the preload's
 *   counts) and, over SSH, open no SSH connection (counted where they arrive: sshd's "Accepted publickey" lines);
 * - `nodix deploy --undeploy`, after which `nodix query` must show both targets running nothing.
 *
 * The coordinator (and the ssh client it runs) stays on the harness's core, sshd and everything the agents start on
 * the servers' core.
 */
import type { ChildProcess } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type SshMachines, sshMachines, TARGETS } from '../../test/helpers/machines.js';
import { run } from '../../test/helpers/run.js';
import { SSHD } from '../../test/helpers/sshd.js';
import type { DeploySshScenario } from '../scenarios/types.js';
import { deploySshFigures, summarizeContacts, totalContacts } from './deploy-figures.js';
import { type DeployModels, nodixBin, writeDeployModels } from './deploy-models.js';
import { runCountedNodix, runRounds } from './deploy-scenario.js';
import type { Pinning } from './pinning.js';
import { type RunningProcess, registerCleanup, startProcess } from './processes.js';
import type {
  DeploySshMeasurement,
  DeploySshRound,
  DeployTransportRound,
  MachineInfo,
  RunSettings,
  ScenarioResult,
} from './result-types.js';

type Transport = 'ssh' | 'http';
const AGENT_PORT = 7411;

/** Connections each target's sshd has accepted so far ("Accepted publickey for", LogLevel VERBOSE). */
function sshLogins(m: SshMachines): Record<string, number> {
  return Object.fromEntries(
    [...m.sshd].map(([target, sshd]) => [
      target,
      (sshd.log().match(/Accepted publickey for /g) ?? []).length,
    ]),
  );
}

/** The counts once the log lines of a command that has exited have come through sshd's pipes. */
async function settledLogins(m: SshMachines): Promise<Record<string, number>> {
  let last = JSON.stringify(sshLogins(m));
  for (;;) {
    await sleep(200);
    const now = JSON.stringify(sshLogins(m));
    if (now === last) return JSON.parse(now) as Record<string, number>;
    last = now;
  }
}

const difference = (after: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(Object.entries(after).map(([target, n]) => [target, n - (before[target] ?? 0)]));

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

/** Machines and processes of one scenario run; `fail` throws, the runner records it as the scenario's error. */
class DeploySshRun {
  readonly errors: string[] = [];
  readonly checks = new Set<string>();
  readonly children = new Set<ChildProcess>();
  readonly agents: RunningProcess[] = [];
  m!: SshMachines;
  models!: DeployModels;
  /** `nodix deploy` arguments per transport: the same models but the infrastructure. */
  args!: Record<Transport, string[]>;
  infrastructure!: Record<Transport, string>;
  /** What may still be deployed, to undeploy at the end. */
  deployed: { transport: Transport; stateDir: string } | undefined;

  constructor(
    readonly scenario: DeploySshScenario,
    readonly pinning: Pinning,
  ) {}

  fail(message: string): never {
    throw new Error(message);
  }

  async setUp(): Promise<void> {
    try {
      await access(SSHD, constants.X_OK);
    } catch {
      this.fail(`deploy-ssh needs sshd at ${SSHD}: apt-get install openssh-server`);
    }
    try {
      this.m = await sshMachines();
    } catch (error) {
      this.fail(
        `deploy-ssh needs root, iproute2 and openssh-server (network namespaces with an sshd each): ${(error as Error).message}`,
      );
    }
    const { m } = this;
    // sshd and what it starts (the sessions' `nodix agent connect`) belong on the servers' core, like the agents.
    const cpu = this.pinning.serverPrefix.at(-1);
    if (cpu !== undefined) {
      for (const sshd of m.sshd.values()) {
        const pinned = await run('taskset', ['-a', '-cp', cpu, String(sshd.pid)]);
        if (pinned.code !== 0) this.fail(`taskset of sshd ${sshd.pid} failed: ${pinned.stderr.trim()}`);
      }
    }
    this.models = await writeDeployModels(m.work, {
      webapps: this.scenario.webapps,
      targets: [...TARGETS],
      properties: (target) => ({
        hostname: target,
        agentPort: AGENT_PORT,
        proxyPort: 80,
        bindHost: '0.0.0.0',
      }),
    });
    const http = this.models.deployArgs[this.models.deployArgs.indexOf('-i') + 1]!;
    const ssh = await m.infrastructureWith('infrastructure-ssh.json', () => ({
      capacity: Math.ceil(this.scenario.webapps / TARGETS.length),
      proxyPort: 80,
      bindHost: '0.0.0.0',
    }));
    this.infrastructure = { http, ssh };
    this.args = {
      http: this.models.deployArgs,
      ssh: this.models.deployArgs.map((arg) => (arg === http ? ssh : arg)),
    };
    for (const target of TARGETS) {
      for (const transport of ['ssh', 'http'] as const) {
        const stateDir = transport === 'ssh' ? m.agentStateDir(target) : join(m.work, `http-agent-${target}`);
        const listen =
          transport === 'ssh'
            ? ['--socket', join(stateDir, 'agent.sock')]
            : ['--listen', `0.0.0.0:${AGENT_PORT}`, '--token-file', m.tokenFile];
        const [command, args] = m.exec(target, process.execPath, [
          nodixBin,
          'agent',
          ...listen,
          '--state-dir',
          stateDir,
          '--service-host',
          '0.0.0.0',
        ]);
        this.agents.push(
          await startProcess({
            label: `${transport} agent ${target}`,
            command,
            args,
            prefix: this.pinning.serverPrefix,
            ready: { line: /^nodix agent listening on / },
          }),
        );
      }
    }
  }

  /** `nodix args` on the client over `transport`; throws when it fails. */
  coordinator(transport: Transport, args: string[], label: string) {
    return runCountedNodix({
      args: transport === 'http' ? [...args, '--token-file', this.m.tokenFile] : args,
      label: `${transport}: ${label}`,
      work: this.m.work,
      children: this.children,
      wrap: (command, argv) => this.m.exec('client', command, argv),
      env: { NODIX_SSH_CONFIG: this.m.ssh.config },
    });
  }

  async checkServing(label: string): Promise<void> {
    for (const target of Object.values(this.models.manifest.targets)) {
      for (const service of Object.values(target.services)) {
        if (service.type !== 'webapp') continue;
        const host = String(service.config.dnsName);
        const answer = await this.m.curl(target.name, host);
        if (answer.status !== 200 || answer.body !== `${host}\n`) {
          this.fail(
            `${label}: ${host} through proxy-${target.name} answered ${answer.status} ${answer.body}`,
          );
        }
      }
    }
  }

  /** Services per target over `transport`, from `nodix query --json` (on the client). */
  async running(transport: Transport): Promise<Record<string, number>> {
    const answer = await this.coordinator(
      transport,
      ['query', '-i', this.infrastructure[transport], '--json'],
      'query',
    );
    const { targets } = JSON.parse(answer.stdout) as { targets: Record<string, { services: unknown[] }> };
    return Object.fromEntries(Object.entries(targets).map(([t, a]) => [t, a.services.length]));
  }

  /** One transport's steps of a round. */
  async runTransport(transport: Transport, round: string): Promise<DeployTransportRound> {
    const stateDir = join(this.m.work, `coordinator-${transport}-${round}`);
    const state = ['--state-dir', stateDir];
    const step = async (args: string[], label: string) => {
      const before = await settledLogins(this.m);
      const result = await this.coordinator(transport, args, label);
      const ssh = difference(await settledLogins(this.m), before);
      return { result, ssh, contacts: summarizeContacts(result.raw, {}) };
    };

    this.deployed = { transport, stateDir };
    const deploy = await step(['deploy', ...this.args[transport], ...state], 'deploy');
    await this.checkServing(`${transport}: deploy`);
    const unchanged = await step(['deploy', ...this.args[transport], ...state], 'unchanged redeploy');
    const problems: string[] = [];
    if (!/nothing to activate or deactivate/.test(unchanged.result.stdout))
      problems.push('the coordinator did not report "nothing to activate or deactivate"');
    if (totalContacts(unchanged.contacts) > 0)
      problems.push(`the coordinator made connections or requests: ${JSON.stringify(unchanged.contacts)}`);
    if (sum(unchanged.ssh) > 0) problems.push(`it opened SSH connections: ${JSON.stringify(unchanged.ssh)}`);
    if (problems.length > 0) this.fail(`${transport}: redeploy with nothing changed: ${problems.join('; ')}`);
    const undeploy = await step(['deploy', '--undeploy', ...state], 'undeploy');
    this.deployed = undefined;
    const left = await this.running(transport);
    if (sum(left) > 0)
      this.fail(`${transport}: after --undeploy the targets still run ${JSON.stringify(left)}`);

    if (transport === 'ssh') {
      const perTarget = Object.values(deploy.ssh);
      this.checks.add(
        `over SSH the deploy from nothing opened ${[...new Set(perTarget)].join(' / ')} SSH connection(s) per target (sshd's log), the unchanged redeploy 0`,
      );
    }
    this.checks.add(
      `${transport}: every webapp answered through its proxy after the deploy; the unchanged redeploy reported "nothing to activate or deactivate" and made 0 TCP connections and 0 HTTP requests; after --undeploy nodix query shows both targets running nothing`,
    );
    return {
      deployMs: deploy.result.ms,
      unchangedMs: unchanged.result.ms,
      undeployMs: undeploy.result.ms,
      sshConnections: { deploy: deploy.ssh, unchanged: unchanged.ssh, undeploy: undeploy.ssh },
      contacts: { deploy: deploy.contacts, unchanged: unchanged.contacts, undeploy: undeploy.contacts },
    };
  }

  async runRound(index: number, label: string): Promise<DeploySshRound> {
    const order: Transport[] = index % 2 === 0 ? ['ssh', 'http'] : ['http', 'ssh'];
    const round: Partial<DeploySshRound> = {};
    for (const transport of order) round[transport] = await this.runTransport(transport, label);
    return round as DeploySshRound;
  }

  async teardown(): Promise<void> {
    for (const child of this.children) child.kill('SIGKILL');
    if (this.deployed) {
      try {
        await this.coordinator(
          this.deployed.transport,
          ['deploy', '--undeploy', '--state-dir', this.deployed.stateDir],
          'final undeploy',
        );
      } catch (error) {
        this.errors.push(`teardown: ${(error as Error).message}`);
      }
    }
    for (const agent of this.agents) await agent.stop();
    // Whatever is left in the namespaces (services of a failed round) is killed by PID as they are removed.
    await this.m?.destroy();
  }
}

export async function runDeploySshScenario(
  scenario: DeploySshScenario,
  settings: RunSettings,
  pinning: Pinning,
  machine: MachineInfo,
): Promise<ScenarioResult> {
  const run = new DeploySshRun(scenario, pinning);
  // Ctrl-C: the harness stops the agents (registered processes); the namespaces go with everything left in them.
  const unregister = registerCleanup(async () => {
    for (const child of run.children) child.kill('SIGKILL');
    await run.m?.destroy();
  });
  const rounds: DeploySshRound[] = [];
  let measurement: DeploySshMeasurement | undefined;
  const common = await runRounds({
    scenario,
    settings,
    machine,
    rounds,
    run,
    setUp: async () => {
      await run.setUp();
      measurement = {
        webapps: scenario.webapps,
        targets: [...TARGETS],
        rounds,
        commands: [
          "ip netns exec <client> nodix deploy -s services-dynamic.ts -i infrastructure-ssh.json -d distribution.json -p ports.json --extra-params '{\"count\":20}' --state-dir $TMP/coordinator-ssh-roundN (NODIX_SSH_CONFIG: the run's ssh_config)",
          'ip netns exec <client> nodix deploy ... -i infrastructure.json ... --state-dir $TMP/coordinator-http-roundN --token-file $TMP/token',
        ],
        checks: [],
      };
    },
    cleanUp: async () => {
      unregister();
    },
  });
  if (measurement) measurement.checks = [...run.checks];
  return {
    ...common,
    kind: 'deploy-ssh',
    deploySsh: measurement,
    figures: deploySshFigures(rounds, { maxRatio: scenario.maxRatio, judge: settings.mode === 'full' }),
  };
}
