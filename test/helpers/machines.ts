import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { identify } from '../../packages/deployer/src/agent/process-identity.js';
import { createNetwork, type Network } from './netns.js';
import { type RunResult, run, startUntil, stopChild } from './run.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const NODIX = join(ROOT, 'packages', 'deployer', 'bin', 'nodix.js');
export const EXAMPLE = join(ROOT, 'examples', 'virtualhosts');
export const TARGETS = ['test1', 'test2'] as const;

/**
 * The machines of an end-to-end run, either network namespaces (`test1`, `test2`, `client`) or everything on
 * loopback. Scenarios only talk through this interface, so the same scenarios run on both.
 */
export interface Machines {
  kind: 'netns' | 'loopback';
  work: string;
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
  kind: 'netns' | 'loopback';
  infrastructure: string;
  sharedRange: string;
  /** argv that runs `command args` on `machine`. */
  on(machine: string, command: string, args: string[]): [string, string[]];
  agentListen(target: string): string;
  proxyOrigin(target: string): string;
  bindHost: string;
  targets: readonly string[];
  setLink?(target: string, up: boolean): Promise<void>;
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
    token,
    tokenFile,
    infrastructure: layout.infrastructure,
    sharedRange: layout.sharedRange,
    nodix(args, options = {}) {
      const envArgs = Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`);
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
        '--listen',
        layout.agentListen(target),
        '--state-dir',
        agentStateDir(target),
        '--token-file',
        tokenFile,
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
  const work = await mkdtemp(join(tmpdir(), 'nodix-e2e-netns-'));
  let network: Network;
  try {
    network = await createNetwork([...targets, 'client']);
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    throw error;
  }
  return build(
    {
      kind: 'netns',
      infrastructure,
      targets,
      sharedRange: '3000-4000',
      on: (machine, command, args) => network.exec(machine, command, args),
      agentListen: () => '0.0.0.0:7411',
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
      agentListen: (target) => `127.0.0.1:${base + index(target)}`,
      proxyOrigin: (target) => `http://127.0.0.1:${base + 2 + index(target)}/`,
      bindHost: '127.0.0.1',
      targets: TARGETS,
      teardown: async () => {},
    },
    work,
  );
}
