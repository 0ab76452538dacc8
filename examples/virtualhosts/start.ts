// `npm start`: the example on this machine. Starts two agents (targets test1 and test2 of infrastructure-local.ts,
// both on 127.0.0.1 with their own ports), deploys services.ts with distribution.ts through them, prints the curl
// lines to try, and stays in the foreground. Ctrl-C undeploys, stops the agents and removes the temporary state:
// nothing it started is left running.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  AgentClient,
  agentAddressOf,
  GenerationStore,
  isSshAddress,
  loadModels,
  main,
} from '@nodix/deployer';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const nodixBin = join(root, 'packages', 'deployer', 'bin', 'nodix.js');
const files = {
  services: join(here, 'services.ts'),
  infrastructure: join(here, 'infrastructure-local.ts'),
  distribution: join(here, 'distribution.ts'),
  ports: join(here, 'ports.json'),
};

const say = (line: string) => process.stdout.write(`[start] ${line}\n`);

for (const name of ['webapp', 'proxy', 'deployer']) {
  if (!existsSync(join(root, 'packages', name, 'dist', 'bin.js'))) {
    process.stderr.write(
      `[start] packages/${name} is not built: run 'npm run build' (npm ci does it) first\n`,
    );
    process.exit(2);
  }
}

const work = await mkdtemp(join(tmpdir(), 'nodix-start-'));
const tokenFile = join(work, 'token');
const token = randomBytes(24).toString('hex');
await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
const stateDir = join(work, 'coordinator');
const io = { stdout: process.stdout, stderr: process.stderr, cwd: here, env: process.env };
const common = ['--state-dir', stateDir, '--token-file', tokenFile];

const { infrastructure } = await loadModels({ files: { infrastructure: files.infrastructure }, cwd: here });
const agents = new Map<string, { child: ChildProcess; client: AgentClient; exited: Promise<void> }>();

/** Starts one agent as its own process (as on a real machine) and waits for its "listening" line. */
async function startAgent(target: string): Promise<void> {
  const address = agentAddressOf(infrastructure[target]!);
  // npm start runs every agent on this machine, over HTTP (the example's infrastructure names no sshTarget).
  if (isSshAddress(address)) throw new Error(`${target}: npm start runs http agents only`);
  const child = spawn(
    process.execPath,
    [
      nodixBin,
      'agent',
      '--listen',
      `${address.host}:${address.port}`,
      '--state-dir',
      join(work, target),
      '--token-file',
      tokenFile,
      '--service-host',
      '127.0.0.1',
    ],
    // Its own process group, as an agent on a real machine would be: a Ctrl-C in the terminal (SIGINT to the
    // whole foreground group) must reach only this script, which undeploys through the agents before it stops
    // them. An agent that got the SIGINT itself would stop its API first and leave its services running.
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  agents.set(target, { child, client: new AgentClient({ target, address, token }), exited });
  const ready = new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      process.stdout.write(`[agent ${target}] ${line}\n`);
      if (line.startsWith('nodix agent listening on')) resolve();
    });
    createInterface({ input: child.stderr! }).on('line', (line) =>
      process.stderr.write(`[agent ${target}] ${line}\n`),
    );
    child.once('exit', (code) =>
      reject(new Error(`the agent of ${target} exited (code ${code}) before it was ready`)),
    );
  });
  await Promise.race([
    ready,
    sleep(15_000).then(() => Promise.reject(new Error(`the agent of ${target} did not start in 15 s`))),
  ]);
}

/** Undeploys, kills by PID whatever an agent still reports, stops the agents, removes the temporary state. */
let stopping = false;
async function shutdown(code: number): Promise<never> {
  stopping = true;
  if ((await new GenerationStore(stateDir).current()) > 0) {
    say('undeploying');
    await main(['deploy', '--undeploy', ...common], io).catch(() => 1);
  }
  for (const [target, { client, child }] of agents) {
    if (child.exitCode !== null) continue;
    const left = await client.services().catch(() => undefined);
    for (const service of left?.services ?? []) {
      if (!service.pid) continue;
      say(`${target}: ${service.name} (pid ${service.pid}) is still running: killing it`);
      try {
        process.kill(-service.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    client.close();
  }
  for (const { child } of agents.values()) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.race([Promise.all([...agents.values()].map((agent) => agent.exited)), sleep(5000)]);
  for (const { child } of agents.values()) if (child.exitCode === null) child.kill('SIGKILL');
  await rm(work, { recursive: true, force: true });
  say('stopped; nothing left running');
  process.exit(code);
}

process.on('SIGINT', () => {
  if (stopping) {
    say('second Ctrl-C: killing the agents now');
    for (const { child } of agents.values()) child.kill('SIGKILL');
    return;
  }
  process.stdout.write('\n');
  void shutdown(0);
});
for (const signal of ['SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void (stopping || shutdown(0)));

try {
  say(`state in ${work}`);
  for (const target of Object.keys(infrastructure)) await startAgent(target);
  const code = await main(
    [
      'deploy',
      '-s',
      files.services,
      '-i',
      files.infrastructure,
      '-d',
      files.distribution,
      '-p',
      files.ports,
      ...common,
    ],
    io,
  );
  if (code !== 0) await shutdown(code);
} catch (error) {
  process.stderr.write(`[start] ${(error as Error).message}\n`);
  await shutdown(1);
}

const manifest = await new GenerationStore(stateDir).currentManifest();
say('deployed. Try:');
for (const [targetName, target] of Object.entries(manifest.targets)) {
  // Where each proxy's admin listener is: the proxy picks a free loopback port and its agent remembers it.
  const running = await agents
    .get(targetName)
    ?.client.services()
    .catch(() => undefined);
  for (const service of Object.values(target.services)) {
    if (service.type !== 'proxy' || !service.routes) continue;
    const host = String(target.properties.hostname ?? '127.0.0.1');
    const origin = `http://${host}:${service.config.port}`;
    for (const name of Object.keys(service.routes.hosts))
      process.stdout.write(`  curl -H 'Host: ${name}' ${origin}\n`);
    process.stdout.write(`  curl -H 'Host: nonexistent.local' ${origin}    # 404 page\n`);
    const adminPort = running?.services.find((entry) => entry.name === service.name)?.adminPort;
    if (adminPort)
      process.stdout.write(
        `  curl http://127.0.0.1:${adminPort}/metrics    # ${service.name}'s metrics (admin listener)\n`,
      );
  }
}
// The workspace's own bin, by absolute path: it works from any directory, and a bare `npx nodix` outside this
// repository would run an unrelated package of that name from the registry.
const queryCommand = [
  join(root, 'node_modules', '.bin', 'nodix'),
  'query',
  '--state-dir',
  stateDir,
  '--token-file',
  tokenFile,
]
  .map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`))
  .join(' ');
say('what runs where, as the agents see it:');
process.stdout.write(`  ${queryCommand}\n`);
say('running; Ctrl-C undeploys and stops everything');
for (const [target, { exited }] of agents) {
  void exited.then(() => stopping || say(`the agent of ${target} exited unexpectedly`));
}
