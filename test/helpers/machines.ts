import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { identify } from '../../packages/deployer/src/agent/process-identity.js';
import { createNetwork, type Network } from './netns.js';
import { type RunResult, run, startUntil, stopChild } from './run.js';
import { createSshClient, type SshClientSetup, type Sshd, startSshd } from './sshd.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const NODIX = join(ROOT, 'packages', 'deployer', 'bin', 'nodix.js');
export const EXAMPLE = join(ROOT, 'examples', 'virtualhosts');
export const TARGETS = ['test1', 'test2'] as const;

/**
 * The machines of an end-to-end run, either network namespaces (`test1`, `test2`, `client`) or everything on
 * loopback. Scenarios only talk through this interface, so the same scenarios run on both.
 */
export interface Machines {
  /** `ssh`: network namespaces whose agents are reached over SSH (an sshd per target, agents on Unix sockets). */
  kind: 'netns' | 'loopback' | 'ssh';
  work: string;
  /**
   * Coordinator arguments with a credential the targets refuse, and what the refusal says: a wrong token for
   * agents reached over HTTP, an identity no sshd authorises for targets reached over SSH.
   */
  wrongCredential(): Promise<{ args: string[]; refusal: RegExp }>;
  token: string;
  tokenFile: string;
  /** The infrastructure model of this setup. */
  infrastructure: string;
  /** `--shared-range` for port-assign. */
  sharedRange: string;
  /** Runs `nodix ...` on the client (the coordinator). */
  nodix(args: string[], options?: { env?: Record<string, string> }): Promise<RunResult>;
  /** `curl -H 'Host: host' <target's proxy>` from the client. */
  curl(target: string, host: string): Promise<{ status: number; body: string }>;
  startAgent(target: string): Promise<void>;
  /** The PID of the target's running agent. */
  agentPid(target: string): number | undefined;
  /** argv that runs `command args` on `machine`. */
  on(machine: string, command: string, args: string[]): [string, string[]];
  stopAgent(target: string): Promise<void>;
  agentStateDir(target: string): string;
  /** argv that runs `command args` on `machine` (for long-running programs the test starts itself). */
  exec(machine: string, command: string, args: string[]): [string, string[]];
  /** Cuts a target off the network or connects it again (netns only). */
  setLink(target: string, up: boolean): Promise<void>;
  /** Holds `port` on `target` (as another program would) until the returned function is called. */
  occupy(target: string, port: number): Promise<() => Promise<void>>;
  destroy(): Promise<void>;
}

interface Layout {
  kind: Machines['kind'];
  infrastructure: string;
  sharedRange: string;
  /** argv that runs `command args` on `machine`. */
  on(machine: string, command: string, args: string[]): [string, string[]];
  /** How the agent listens: `--listen HOST:PORT --token-file F`, or `--socket PATH`. */
  agentListen(target: string, tokenFile: string, stateDir: string): string[];
  /** Environment of every `nodix` run on the client (the ssh settings). */
  env?: Record<string, string>;
  proxyOrigin(target: string): string;
  bindHost: string;
  targets: readonly string[];
  setLink?(target: string, up: boolean): Promise<void>;
  /** Machines['wrongCredential']; default: a token file with the wrong token. */
  wrongCredential?(): Promise<{ args: string[]; refusal: RegExp }>;
  teardown(): Promise<void>;
}

async function killServicesOf(stateDir: string): Promise<void> {
  let state: { services?: Record<string, { process?: { pid: number; startTime: string } }> };
  try {
    state = JSON.parse(await readFile(join(stateDir, 'state.json'), 'utf8'));
  } catch {
    return;
  }
  for (const record of Object.values(state.services ?? {})) {
    const proc = record.process;
    if (!proc) continue;
    // Only the very process the agent started (same start time), never a PID that was handed on since.
    const now = await identify(proc.pid);
    if (now?.startTime !== proc.startTime) continue;
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function build(layout: Layout, work: string): Promise<Machines> {
  const token = randomBytes(24).toString('hex');
  const tokenFile = join(work, 'token');
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  const agents = new Map<string, ChildProcess>();
  const holders = new Set<ChildProcess>();
  const agentStateDir = (target: string) => join(work, `agent-${target}`);

  return {
    kind: layout.kind,
    work,
    async wrongCredential() {
      if (layout.wrongCredential) return layout.wrongCredential();
      const wrong = join(work, 'wrong-token');
      await writeFile(wrong, 'not-the-token\n', { mode: 0o600 });
      return { args: ['--token-file', wrong], refusal: /refused the token \(401\)/ };
    },
    token,
    tokenFile,
    infrastructure: layout.infrastructure,
    sharedRange: layout.sharedRange,
    nodix(args, options = {}) {
      const envArgs = Object.entries({ ...layout.env, ...options.env }).map(
        ([key, value]) => `${key}=${value}`,
      );
      const [command, argv] = layout.on('client', 'env', [...envArgs, process.execPath, NODIX, ...args]);
      return run(command, argv, { cwd: work, timeoutMs: 180_000 });
    },
    async curl(target, host) {
      const [command, argv] = layout.on('client', 'curl', [
        '-s',
        '-m',
        '10',
        '-H',
        `Host: ${host}`,
        '-w',
        '\n%{http_code}',
        layout.proxyOrigin(target),
      ]);
      const result = await run(command, argv, { timeoutMs: 20_000 });
      const cut = result.stdout.lastIndexOf('\n');
      return { status: Number(result.stdout.slice(cut + 1)), body: result.stdout.slice(0, cut) };
    },
    async startAgent(target) {
      const [command, argv] = layout.on(target, process.execPath, [
        NODIX,
        'agent',
        ...layout.agentListen(target, tokenFile, agentStateDir(target)),
        '--state-dir',
        agentStateDir(target),
        '--service-host',
        layout.bindHost,
      ]);
      const { child } = await startUntil(command, argv, /nodix agent listening on/);
      agents.set(target, child);
    },
    async stopAgent(target) {
      const child = agents.get(target);
      if (child) await stopChild(child);
      agents.delete(target);
    },
    agentStateDir,
    exec: (machine, command, args) => layout.on(machine, command, args),
    async setLink(target, up) {
      if (!layout.setLink) throw new Error(`${layout.kind} machines have no links to cut`);
      await layout.setLink(target, up);
    },
    agentPid: (target) => agents.get(target)?.pid,
    on: layout.on,
    async occupy(target, port) {
      const script = `require('net').createServer().listen(${port}, '${layout.bindHost}', () => console.log('holding'))`;
      const [command, argv] = layout.on(target, process.execPath, ['-e', script]);
      const { child } = await startUntil(command, argv, /holding/);
      holders.add(child);
      return async () => {
        await stopChild(child);
        holders.delete(child);
      };
    },
    async destroy() {
      for (const child of [...agents.values(), ...holders]) await stopChild(child, 'SIGKILL');
      for (const target of layout.targets) await killServicesOf(agentStateDir(target));
      await layout.teardown();
      await rm(work, { recursive: true, force: true });
    },
  };
}

/**
 * A work directory and network namespaces for `targets` and a client (the directory removed again if they cannot
 * be made).
 */
async function workAndNetwork(
  prefix: string,
  targets: readonly string[] = TARGETS,
): Promise<{ work: string; network: Network }> {
  const work = await mkdtemp(join(tmpdir(), prefix));
  try {
    return { work, network: await createNetwork([...targets, 'client']) };
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Network namespaces for the targets and a client; by default the example's own infrastructure.ts (hostnames
 * test1/test2, agent 7411, proxy 80).
 */
export async function netnsMachines({
  targets = TARGETS,
  infrastructure = join(EXAMPLE, 'infrastructure.ts'),
}: {
  targets?: readonly string[];
  infrastructure?: string;
} = {}): Promise<Machines> {
  const { work, network } = await workAndNetwork('nodix-e2e-netns-', targets);
  return build(
    {
      kind: 'netns',
      infrastructure,
      targets,
      sharedRange: '3000-4000',
      on: (machine, command, args) => network.exec(machine, command, args),
      agentListen: (_target, tokenFile) => ['--listen', '0.0.0.0:7411', '--token-file', tokenFile],
      proxyOrigin: (target) => `http://${target}/`,
      bindHost: '0.0.0.0',
      setLink: (target, up) => network.setLink(target, up),
      teardown: () => network.destroy(),
    },
    work,
  );
}

/** A port range below the ephemeral ports, picked at random so parallel runs rarely meet; checked free. */
async function freeRange(size: number): Promise<number> {
  const { isPortFree } = await import('../../packages/deployer/src/agent/readiness.js');
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = 20_000 + Math.floor(Math.random() * 120) * 100;
    let free = true;
    for (let port = base; port < base + size && free; port += 1) free = await isPortFree('127.0.0.1', port);
    if (free) return base;
  }
  throw new Error('no free port range found');
}

/** Both targets on 127.0.0.1: a generated infrastructure with free agent and proxy ports. */
export async function loopbackMachines(): Promise<Machines> {
  const work = await mkdtemp(join(tmpdir(), 'nodix-e2e-loopback-'));
  const base = await freeRange(100);
  // base..base+3: agents and proxies; base+10..base+99: the services' shared pool.
  const properties = (index: number) => ({
    hostname: '127.0.0.1',
    capacity: 10,
    agentPort: base + index,
    proxyPort: base + 2 + index,
    bindHost: '127.0.0.1',
  });
  const infrastructure = join(work, 'infrastructure.json');
  await writeFile(
    infrastructure,
    JSON.stringify({ test1: { properties: properties(0) }, test2: { properties: properties(1) } }, null, 2),
  );
  const index = (target: string) => TARGETS.indexOf(target as (typeof TARGETS)[number]);
  return build(
    {
      kind: 'loopback',
      infrastructure,
      sharedRange: `${base + 10}-${base + 99}`,
      on: (_machine, command, args) => [command, args],
      agentListen: (target, tokenFile) => [
        '--listen',
        `127.0.0.1:${base + index(target)}`,
        '--token-file',
        tokenFile,
      ],
      proxyOrigin: (target) => `http://127.0.0.1:${base + 2 + index(target)}/`,
      bindHost: '127.0.0.1',
      targets: TARGETS,
      teardown: async () => {},
    },
    work,
  );
}

export interface SshMachines extends Machines {
  ssh: SshClientSetup;
  sshd: Map<string, Sshd>;
  network: Network;
  /** An infrastructure model like `infrastructure` with `change` applied to each target's properties. */
  infrastructureWith(name: string, change: (target: string) => Record<string, unknown>): Promise<string>;
}

/**
 * Three network namespaces whose targets are reached over SSH: in each target an sshd of the test's own (host key,
 * authorised key) and the agent on a Unix socket, no agent TCP port; the coordinator on `client` with an ssh_config
 * and known_hosts written by the test, given to nodix through NODIX_SSH_CONFIG.
 */
export async function sshMachines(): Promise<SshMachines> {
  const { work, network } = await workAndNetwork('nodix-e2e-ssh-');
  const sshd = new Map<string, Sshd>();
  const socketOf = (target: string) => join(work, `agent-${target}`, 'agent.sock');
  const properties = (target: string) => ({
    hostname: target,
    capacity: 10,
    sshTarget: `root@${target}`,
    nodixCommand: `${process.execPath} ${NODIX}`,
    agentSocket: socketOf(target),
  });
  const infrastructureWith = async (name: string, change: (target: string) => Record<string, unknown>) => {
    const path = join(work, name);
    const model = Object.fromEntries(
      TARGETS.map((target) => [target, { properties: { ...properties(target), ...change(target) } }]),
    );
    await writeFile(path, JSON.stringify(model, null, 2));
    return path;
  };
  let ssh: SshClientSetup;
  let infrastructure: string;
  try {
    ssh = await createSshClient(work);
    for (const target of TARGETS) {
      const machine = network.machines.get(target) as { address: string };
      const server = await startSshd({
        dir: join(work, `sshd-${target}`),
        address: machine.address,
        port: 22,
        authorizedKey: ssh.publicKey,
        on: (command, args) => network.exec(target, command, args),
      });
      sshd.set(target, server);
      await ssh.trust(target, server.hostKey);
    }
    infrastructure = await infrastructureWith('infrastructure.json', () => ({}));
  } catch (error) {
    for (const server of sshd.values()) await server.stop();
    await network.destroy();
    await rm(work, { recursive: true, force: true });
    throw error;
  }
  const machines = await build(
    {
      kind: 'ssh',
      infrastructure,
      targets: TARGETS,
      sharedRange: '3000-4000',
      on: (machine, command, args) => network.exec(machine, command, args),
      agentListen: (target) => ['--socket', socketOf(target)],
      env: { NODIX_SSH_CONFIG: ssh.config },
      wrongCredential: async () => ({
        args: ['--ssh-config', await ssh.unauthorisedConfig()],
        refusal: /permission denied logging in/,
      }),
      setLink: (target, up) => network.setLink(target, up),
      proxyOrigin: (target) => `http://${target}/`,
      bindHost: '0.0.0.0',
      teardown: async () => {
        for (const server of sshd.values()) await server.stop();
        await network.destroy();
      },
    },
    work,
  );
  return { ...machines, ssh, sshd, network, infrastructureWith };
}
