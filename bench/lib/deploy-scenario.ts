/**
 * Running the deploy scenario (issue 5). Two `nodix agent`s on loopback (pinned to the servers' core, a token file
 * in the temp dir) stay up for the whole scenario. Each round, in an order rotated round by round:
 *
 * - direct: the harness starts the 20 nodix-webapp and 2 nodix-proxy processes the deployment consists of (same
 *   command lines, ports and route tables, pinned like the agents' services) all at once and waits for each one's
 *   ready line; then checks every host answers through its proxy and stops them by PID.
 * - deploy: `nodix deploy` from nothing (a fresh coordinator state dir, agents running nothing), timed from spawn to
 *   exit; the same command again (nothing changed: must contact no agent and no service); the command with one
 *   webapp changed; `nodix deploy --undeploy`, after which nothing may be left running.
 *
 * The coordinator runs on the harness's core (it is the client, like the load generator) with
 * `count-connections.mjs` preloaded, which counts every connection and request it makes by destination.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentClient } from '@nodix/deployer';
import type { DeployScenario } from '../scenarios/types.js';
import type { ServiceSnapshot } from './deploy-figures.js';
import {
  deployFigures,
  parseCoordinatorOutput,
  type RawContacts,
  summarizeContacts,
  unchangedProblems,
} from './deploy-figures.js';
import {
  comparableArgv,
  type DeployModels,
  type DirectCommand,
  directCommands,
  nodixBin,
  writeDeployModels,
} from './deploy-models.js';
import type { Pinning } from './pinning.js';
import { type RunningProcess, registerCleanup, startProcess } from './processes.js';
import type {
  DeployContacts,
  DeployMeasurement,
  DeployRound,
  MachineInfo,
  RunSettings,
  ScenarioResult,
} from './result-types.js';
import { repoRoot } from './setups.js';

const counterUrl = new URL('./count-connections.mjs', import.meta.url).href;
const COMMAND_TIMEOUT_MS = 120_000;

interface AgentHandle {
  target: string;
  port: number;
  stateDir: string;
  proc: RunningProcess;
  client: AgentClient;
  /** Lines the agent printed so far (it logs every lock, start, stop and reload). */
  lines: number;
}

/** A running process as the kernel knows it: PID plus start time, so a reused PID is never taken for it. */
interface ProcessId {
  pid: number;
  startTime: string;
}

function readStartTime(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // Zombies are gone for our purpose: they hold no port and run nothing.
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

const isAlive = (id: ProcessId) => readStartTime(id.pid) === id.startTime;

function killGroup(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Waits up to `ms` for every process to be gone; returns those still there. */
async function survivors(ids: Iterable<ProcessId>, ms = 3000): Promise<ProcessId[]> {
  const deadline = Date.now() + ms;
  let left = [...ids].filter(isAlive);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    left = left.filter(isAlive);
  }
  return left;
}

/** The services an agent's state file records (for Ctrl-C, when the agents may already be stopped). */
async function recordedServices(stateDir: string): Promise<ProcessId[]> {
  try {
    const state = JSON.parse(await readFile(join(stateDir, 'state.json'), 'utf8')) as {
      services?: Record<string, { process?: { pid: number; startTime: string } }>;
    };
    return Object.values(state.services ?? {}).flatMap((s) =>
      s.process ? [{ pid: s.process.pid, startTime: s.process.startTime }] : [],
    );
  } catch {
    return [];
  }
}

function httpGet(port: number, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/', headers: { host }, agent: false, timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

interface CommandResult {
  ms: number;
  code: number | null;
  stdout: string;
  stderr: string;
  contacts: DeployContacts;
}

/** One coordinator run: its wall time from spawn to exit, its output, and whom it contacted (the preload's counts). */
export interface CountedRun {
  ms: number;
  code: number | null;
  stdout: string;
  stderr: string;
  raw: RawContacts;
}

/**
 * Runs `nodix args` with `count-connections.mjs` preloaded, through `wrap` when given (`ip netns exec` to run it on
 * another machine); the child is in `children` while it runs (killed on Ctrl-C). Throws when it exits non-zero.
 */
export async function runCountedNodix(options: {
  args: string[];
  label: string;
  work: string;
  children: Set<ChildProcess>;
  wrap?: (command: string, args: string[]) => [string, string[]];
  env?: Record<string, string>;
}): Promise<CountedRun> {
  const { args, label } = options;
  const contactsFile = join(options.work, `contacts-${randomBytes(4).toString('hex')}.json`);
  const plain: [string, string[]] = [process.execPath, ['--import', counterUrl, nodixBin, ...args]];
  const [command, argv] = options.wrap ? options.wrap(...plain) : plain;
  const output = { stdout: '', stderr: '' };
  const start = performance.now();
  const child = spawn(command, argv, {
    env: { ...process.env, ...options.env, NODIX_BENCH_CONTACTS_FILE: contactsFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  options.children.add(child);
  const exited = new Promise<{ ms: number; code: number | null }>((resolve) =>
    child.once('exit', (code) => resolve({ ms: performance.now() - start, code })),
  );
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output.stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    output.stderr += chunk;
  });
  const closed = new Promise((resolve) => child.once('close', resolve));
  const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
  const { ms, code } = await exited;
  clearTimeout(timer);
  await closed;
  options.children.delete(child);
  if (code !== 0) {
    throw new Error(
      `${label}: nodix ${args[0]} exited with ${code}\n${(output.stdout + output.stderr).trim().split('\n').slice(-15).join('\n')}`,
    );
  }
  const raw = JSON.parse(await readFile(contactsFile, 'utf8')) as RawContacts;
  return { ms, code, ...output, raw };
}

class DeployRun {
  readonly errors: string[] = [];
  readonly checks = new Set<string>();
  readonly agents = new Map<string, AgentHandle>();
  /** Every service process seen, to prove at the end that none is left. */
  readonly seen = new Map<string, ProcessId>();
  /** The coordinator state dir whose generation may still run services (undeployed at the end). */
  deployedState: string | undefined;
  models!: DeployModels;
  direct!: DirectCommand[];
  tokenFile!: string;
  readonly children = new Set<ChildProcess>();
  #argvChecked = false;

  constructor(
    readonly scenario: DeployScenario,
    readonly pinning: Pinning,
    readonly work: string,
  ) {}

  fail(message: string): never {
    throw new Error(message);
  }

  async startAgents(): Promise<void> {
    this.tokenFile = join(this.work, 'token');
    const token = randomBytes(24).toString('hex');
    await writeFile(this.tokenFile, `${token}\n`, { mode: 0o600 });
    for (const target of this.scenario.targets) {
      const port = this.models.targets[target]!.agentPort;
      const stateDir = join(this.work, `agent-${target}`);
      const handle = { target, port, stateDir, lines: 0 } as AgentHandle;
      handle.proc = await startProcess({
        label: `agent ${target}`,
        command: process.execPath,
        args: [
          nodixBin,
          'agent',
          '--listen',
          `127.0.0.1:${port}`,
          '--state-dir',
          stateDir,
          '--token-file',
          this.tokenFile,
          '--service-host',
          '127.0.0.1',
        ],
        prefix: this.pinning.serverPrefix,
        ready: { line: /^nodix agent listening on / },
        onLine: () => {
          handle.lines += 1;
        },
      });
      handle.client = new AgentClient({ target, address: { host: '127.0.0.1', port }, token });
      this.agents.set(target, handle);
    }
  }

  /** What every agent runs now, by service name; records each process for the final check. */
  async snapshot(): Promise<Map<string, ServiceSnapshot>> {
    const services = new Map<string, ServiceSnapshot>();
    for (const agent of this.agents.values()) {
      const answer = await agent.client.services();
      for (const s of answer.services) {
        const startTime = s.pid === null ? undefined : readStartTime(s.pid);
        if (s.pid === null || startTime === undefined) {
          this.fail(`${agent.target}: ${s.name} has no running process (state ${s.state})`);
        }
        const entry = {
          target: agent.target,
          pid: s.pid,
          startTime,
          hash: s.hash,
          restarts: s.restarts,
          state: s.state,
        };
        services.set(s.name, entry);
        this.seen.set(`${s.name}@${s.pid}`, entry);
      }
    }
    return services;
  }

  async runCoordinator(args: string[], label: string): Promise<CommandResult> {
    const result = await runCountedNodix({
      args: [...args, '--token-file', this.tokenFile],
      label,
      work: this.work,
      children: this.children,
    });
    const agentPorts = Object.fromEntries([...this.agents].map(([target, agent]) => [target, agent.port]));
    return { ...result, contacts: summarizeContacts(result.raw, agentPorts) };
  }

  /** Every webapp answers its own name through the proxy of its target. */
  async checkServing(label: string): Promise<void> {
    for (const target of Object.values(this.models.manifest.targets)) {
      const proxyPort = this.models.targets[target.name]!.proxyPort;
      for (const service of Object.values(target.services)) {
        if (service.type !== 'webapp') continue;
        const host = String(service.config.dnsName);
        const answer = await httpGet(proxyPort, host);
        if (answer.status !== 200 || answer.body !== `${host}\n`) {
          this.fail(
            `${label}: ${host} through proxy-${target.name} answered ${answer.status} ${JSON.stringify(answer.body)}`,
          );
        }
      }
    }
  }

  async writeDirectRouteTables(): Promise<void> {
    for (const command of this.direct) {
      if (!command.routesFile) continue;
      await mkdir(dirname(command.routesFile), { recursive: true });
      await writeFile(command.routesFile, `${JSON.stringify(command.routes, null, 2)}\n`);
    }
  }

  /** The direct setup: all processes at once, timed until the last ready line; then checked and stopped. */
  async runDirect(): Promise<number> {
    const start = performance.now();
    const started = await Promise.allSettled(
      this.direct.map((command) =>
        startProcess({
          label: `direct ${command.name}`,
          command: process.execPath,
          args: command.args,
          env: { ...process.env, ...command.env },
          prefix: this.pinning.serverPrefix,
          ready: { line: command.ready },
        }),
      ),
    );
    const ms = performance.now() - start;
    const procs = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    try {
      const failed = started.find((s) => s.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      await this.checkServing('direct');
      this.checks.add(
        `direct: all ${procs.length} processes ready and every webapp answered through its proxy`,
      );
    } finally {
      await Promise.all(procs.map((proc) => proc.stop()));
    }
    return ms;
  }

  /** Round 1: the agents run exactly the direct setup's command lines (route table paths aside) and tables. */
  async checkSameCommands(services: Map<string, ServiceSnapshot>): Promise<void> {
    if (this.#argvChecked) return;
    for (const command of this.direct) {
      const service = services.get(command.name);
      if (!service) this.fail(`the deployment runs no ${command.name}`);
      const argv = readFileSync(`/proc/${service.pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
      const expected = comparableArgv([process.execPath, ...command.args]);
      if (JSON.stringify(comparableArgv(argv)) !== JSON.stringify(expected)) {
        this.fail(
          `${command.name}: the agent runs\n  ${argv.join(' ')}\nbut the direct setup starts\n  ${expected.join(' ')}`,
        );
      }
      if (command.routesFile) {
        const agent = this.agents.get(command.target)!;
        const deployed = await readFile(
          join(agent.stateDir, 'services', command.name, 'routes.json'),
          'utf8',
        );
        if (deployed !== (await readFile(command.routesFile, 'utf8'))) {
          this.fail(`${command.name}: the deployed route table differs from the direct setup's`);
        }
      }
    }
    this.#argvChecked = true;
    this.checks.add(
      `the agents run the direct setup's ${this.direct.length} command lines (argv from /proc, route table paths aside) with identical route tables`,
    );
  }

  async stateMtimes(): Promise<number[]> {
    return Promise.all(
      [...this.agents.values()].map(
        async (agent) => (await stat(join(agent.stateDir, 'state.json'))).mtimeMs,
      ),
    );
  }

  /** The deploy block of one round: from nothing, unchanged, one webapp changed, undeploy. */
  async runDeploy(round: string): Promise<Omit<DeployRound, 'directMs'>> {
    const { changedWebapp } = this.models;
    const stateDir = join(this.work, `coordinator-${round}`);
    const state = ['--state-dir', stateDir];
    const empty = await this.snapshot();
    if (empty.size > 0) this.fail(`before the deploy the agents already run ${[...empty.keys()].join(', ')}`);

    // From nothing.
    this.deployedState = stateDir;
    const deployed = await this.runCoordinator(['deploy', ...this.models.deployArgs, ...state], 'deploy');
    const deployOutput = parseCoordinatorOutput(deployed.stdout);
    const afterDeploy = await this.snapshot();
    if (afterDeploy.size !== this.direct.length) {
      this.fail(`deploy: the agents run ${afterDeploy.size} services, expected ${this.direct.length}`);
    }
    await this.checkServing('deploy');
    await this.checkSameCommands(afterDeploy);
    this.checks.add(
      `deploy from nothing: ${afterDeploy.size} services running and every webapp answered through its proxy`,
    );

    // Nothing changed: no agent, no service may hear from the coordinator.
    const linesBefore = [...this.agents.values()].map((agent) => agent.lines);
    const mtimesBefore = await this.stateMtimes();
    const unchanged = await this.runCoordinator(
      ['deploy', ...this.models.deployArgs, ...state],
      'unchanged redeploy',
    );
    await sleep(100); // let any agent log line that a contact would cause arrive through its pipe
    const afterUnchanged = await this.snapshot();
    const problems = unchangedProblems({
      contacts: unchanged.contacts,
      output: parseCoordinatorOutput(unchanged.stdout),
      agentLines: [linesBefore, [...this.agents.values()].map((agent) => agent.lines)],
      stateMtimes: [mtimesBefore, await this.stateMtimes()],
      services: [afterDeploy, afterUnchanged],
    });
    if (problems.length > 0) this.fail(`redeploy with nothing changed: ${problems.join('; ')}`);
    const local = Object.keys(unchanged.contacts.local);
    this.checks.add(
      'redeploy with nothing changed: 0 TCP connections and 0 HTTP requests from the coordinator (counted inside it' +
        `${local.length > 0 ? `; its only other sockets: ${local.join(', ')}, Unix sockets no agent or service listens on` : ''}), ` +
        '"nothing to activate or deactivate", no agent log line, no agent state write, every service the same PID, hash and restart count',
    );

    // One webapp changed.
    const oneWebapp = await this.runCoordinator(
      ['deploy', ...this.models.changedArgs, ...state],
      'one-webapp redeploy',
    );
    const oneOutput = parseCoordinatorOutput(oneWebapp.stdout);
    const afterOne = await this.snapshot();
    const newPids = [...afterOne]
      .filter(([name, s]) => afterUnchanged.get(name)?.pid !== s.pid)
      .map(([name]) => name)
      .sort();
    if (!newPids.includes(changedWebapp)) this.fail(`one-webapp redeploy: ${changedWebapp} kept its process`);
    await this.checkServing('one-webapp redeploy');
    const changedTarget = afterOne.get(changedWebapp)!.target;
    const untouched = [...this.agents.keys()].filter(
      (target) => target !== changedTarget && (oneWebapp.contacts.agentRequests[target] ?? 0) === 0,
    );
    this.checks.add(
      `redeploy with ${changedWebapp} changed: new process for ${newPids.join(', ')}; every webapp answered; ` +
        `agents contacted: ${Object.keys(oneWebapp.contacts.agentRequests).join(', ') || 'none'}` +
        (untouched.length > 0 ? `; untouched: ${untouched.join(', ')}` : ''),
    );

    // Undeploy: nothing of this round may be left.
    const undeployed = await this.runCoordinator(['deploy', '--undeploy', ...state], 'undeploy');
    this.deployedState = undefined;
    const left = await this.snapshot();
    if (left.size > 0) this.fail(`after --undeploy the agents still run ${[...left.keys()].join(', ')}`);
    const alive = await survivors(this.seen.values());
    if (alive.length > 0)
      this.fail(`after --undeploy processes are still running: ${alive.map((p) => p.pid).join(', ')}`);
    this.checks.add('undeploy: the agents run nothing and every service process of the round has exited');

    return {
      deployMs: deployed.ms,
      unchangedMs: unchanged.ms,
      oneWebappMs: oneWebapp.ms,
      undeployMs: undeployed.ms,
      deployBuildMs: deployOutput.buildMs,
      deployActivateMs: deployOutput.activateMs,
      contacts: {
        deploy: deployed.contacts,
        unchanged: unchanged.contacts,
        oneWebapp: oneWebapp.contacts,
        undeploy: undeployed.contacts,
      },
      oneWebappActions: oneOutput.actions,
      oneWebappNewPids: newPids,
    };
  }

  async runRound(index: number, label: string): Promise<DeployRound> {
    // Rotated round by round, so neither setup always runs right after the other's processes stopped.
    let directMs = Number.NaN;
    let deploy: Omit<DeployRound, 'directMs'> | undefined;
    const steps = [
      async () => {
        directMs = await this.runDirect();
      },
      async () => {
        deploy = await this.runDeploy(label);
      },
    ];
    if (index % 2 === 1) steps.reverse();
    for (const step of steps) await step();
    return { directMs, ...(deploy as Omit<DeployRound, 'directMs'>) };
  }

  /** Undeploy what may still run, stop the agents by PID, and prove nothing is left. */
  async teardown(): Promise<void> {
    for (const child of this.children) child.kill('SIGKILL');
    if (this.deployedState !== undefined && this.agents.size > 0) {
      try {
        await this.runCoordinator(
          ['deploy', '--undeploy', '--state-dir', this.deployedState],
          'final undeploy',
        );
      } catch (error) {
        this.errors.push(`teardown: ${(error as Error).message}`);
      }
    }
    for (const agent of this.agents.values()) {
      try {
        const answer = await agent.client.services();
        for (const s of answer.services) {
          this.errors.push(`teardown: ${agent.target} still ran ${s.name} (pid ${s.pid}): killed`);
          if (s.pid !== null) killGroup(s.pid);
        }
      } catch (error) {
        this.errors.push(
          `teardown: could not query the agent of ${agent.target}: ${(error as Error).message}`,
        );
      }
      agent.client.close();
    }
    for (const agent of this.agents.values()) await agent.proc.stop();
    const recorded = (
      await Promise.all([...this.agents.values()].map((a) => recordedServices(a.stateDir)))
    ).flat();
    const left = await survivors([...this.seen.values(), ...recorded]);
    for (const proc of left) {
      this.errors.push(`teardown: process ${proc.pid} was still running: killed`);
      killGroup(proc.pid);
    }
    const agentsLeft = [...this.agents.values()].filter((agent) => agent.proc.exit === undefined);
    for (const agent of agentsLeft) this.errors.push(`teardown: the agent of ${agent.target} did not stop`);
    if (this.agents.size > 0 && left.length === 0 && agentsLeft.length === 0) {
      this.checks.add(
        `end: undeployed, both agents stopped by PID, none of the ${this.seen.size} service processes seen is left`,
      );
    }
  }
}

/** A command line as the report shows it: the temp dir as $TMP, repository paths relative, quoted for a shell. */
function showArgs(args: readonly string[], work: string): string {
  return args
    .map((arg) => arg.replace(work, '$TMP').replace(repoRoot, ''))
    .map((arg) => (/^[\w@%+=:,./$-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}

/**
 * A deploy scenario's life: set up, then (full mode) one unmeasured round first (file cache, tsx's compile cache),
 * like the HTTP scenarios' warm-up, then the measured rounds, pushed to `rounds` as they finish. An error ends it
 * and goes to the run's errors (the rounds done so far are kept); the teardown always runs, then `cleanUp`.
 * Returns the result's fields every deploy scenario shares.
 */
export async function runRounds<R>(options: {
  scenario: { name: string; issue: number; description: string };
  settings: RunSettings;
  machine: MachineInfo;
  rounds: R[];
  run: {
    errors: string[];
    runRound(index: number, label: string): Promise<R>;
    teardown(): Promise<void>;
  };
  setUp: () => Promise<void>;
  cleanUp: () => Promise<void>;
}): Promise<Omit<ScenarioResult, 'kind' | 'figures'>> {
  const { scenario, settings, run } = options;
  const started = Date.now();
  try {
    await options.setUp();
    if (settings.warmupSeconds > 0) await run.runRound(0, 'warmup');
    for (let i = 0; i < settings.rounds; i++) {
      options.rounds.push(await run.runRound(i, `round${i + 1}`));
      process.stderr.write(`[bench] ${scenario.name}: round ${i + 1}/${settings.rounds} done\n`);
    }
  } catch (error) {
    run.errors.push((error as Error).message);
  } finally {
    await run.teardown();
    await options.cleanUp();
  }
  return {
    scenario: scenario.name,
    issue: scenario.issue,
    description: scenario.description,
    settings,
    machine: options.machine,
    setups: [],
    errors: run.errors,
    wallSeconds: (Date.now() - started) / 1000,
  };
}

export async function runDeployScenario(
  scenario: DeployScenario,
  settings: RunSettings,
  pinning: Pinning,
  machine: MachineInfo,
): Promise<ScenarioResult> {
  const work = await mkdtemp(join(tmpdir(), 'nodix-bench-deploy-'));
  const run = new DeployRun(scenario, pinning, work);
  // Ctrl-C: the harness stops the agents (registered processes) first; their services run detached and are
  // killed here by the PIDs the agents' state files record, checked against their start time.
  const unregister = registerCleanup(async () => {
    for (const child of run.children) child.kill('SIGKILL');
    const dirs = scenario.targets.map((target) => join(work, `agent-${target}`));
    const recorded = (await Promise.all(dirs.map(recordedServices))).flat();
    for (const proc of [...recorded, ...run.seen.values()]) if (isAlive(proc)) killGroup(proc.pid);
    await rm(work, { recursive: true, force: true });
  });
  const rounds: DeployRound[] = [];
  let measurement: DeployMeasurement | undefined;
  const common = await runRounds({
    scenario,
    settings,
    machine,
    rounds,
    run,
    setUp: async () => {
      run.models = await writeDeployModels(work, { webapps: scenario.webapps, targets: scenario.targets });
      run.direct = directCommands(run.models.manifest, join(work, 'direct'));
      await run.writeDirectRouteTables();
      await run.startAgents();
      measurement = {
        webapps: scenario.webapps,
        targets: scenario.targets,
        changedWebapp: run.models.changedWebapp,
        rounds,
        commands: [run.models.deployArgs, run.models.changedArgs, ['--undeploy']].map(
          (args) =>
            `nodix deploy ${showArgs(args, work)} --state-dir $TMP/coordinator-roundN --token-file $TMP/token`,
        ),
        checks: [],
      };
    },
    cleanUp: async () => {
      await rm(work, { recursive: true, force: true });
      unregister();
    },
  });
  if (measurement) measurement.checks = [...run.checks];
  return {
    ...common,
    kind: 'deploy',
    deploy: measurement,
    figures: deployFigures(rounds, {
      maxRatio: scenario.maxRatio,
      judge: settings.mode === 'full',
      changedWebapp: run.models?.changedWebapp ?? 'one webapp',
    }),
  };
}
