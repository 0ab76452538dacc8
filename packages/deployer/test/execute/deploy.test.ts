import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { type Agent, createAgent } from '../../src/agent/server.js';
import { applyGoal, DeployError } from '../../src/execute/deploy.js';
import { GenerationStore } from '../../src/execute/generations.js';
import { createReporter } from '../../src/execute/report.js';
import { AgentClient } from '../../src/execute/transport.js';
import type { Manifest, ServiceInstance } from '../../src/plan/types.js';
import { api, httpGet, killGroup, newToken, processService, servicePort, tempDir } from '../agent/helpers.js';

/** Deploys hand-made manifests through real agents on loopback, as `nodix deploy` does. */

interface Rig {
  token: string;
  stateDir: string;
  agents: Map<string, { agent: Agent; dir: string }>;
  out: string[];
  manifest(services: Record<string, ServiceInstance[]>): Manifest;
  deploy(
    manifest: Manifest,
    extra?: { token?: string; dryRun?: boolean; lock?: boolean },
  ): ReturnType<typeof applyGoal>;
  switchTo(generation: number): ReturnType<typeof applyGoal>;
  running(target: string): Promise<Array<{ name: string; pid: number; hash: string }>>;
}

async function rig(t: Test, targets: string[]): Promise<Rig> {
  const token = newToken();
  const stateDir = await tempDir(t, 'nodix-coordinator-');
  const agents = new Map<string, { agent: Agent; dir: string }>();
  for (const target of targets) {
    const dir = await tempDir(t);
    const agent = await createAgent({ host: '127.0.0.1', port: 0, stateDir: dir, token, log: () => {} });
    agents.set(target, { agent, dir });
    t.teardown(async () => {
      for (const service of agent.supervisor.list()) killGroup(service.pid);
      await agent.close();
    });
  }
  const out: string[] = [];
  const reporter = createReporter({ write: (chunk: string) => out.push(chunk) });
  const options = (extra: { token?: string; dryRun?: boolean; lock?: boolean } = {}) => ({
    stateDir,
    token: extra.token ?? token,
    reporter,
    dryRun: extra.dryRun,
    lock: extra.lock,
    resumeCommand: (generation: number) =>
      `nodix deploy --switch-to-generation ${generation} --state-dir ${stateDir}`,
  });
  return {
    token,
    stateDir,
    agents,
    out,
    manifest(services) {
      const manifest: Manifest = { version: 1, targets: {} };
      for (const [target, instances] of Object.entries(services)) {
        const agent = agents.get(target)?.agent;
        manifest.targets[target] = {
          name: target,
          properties: {},
          agent: { host: '127.0.0.1', port: agent ? agent.port : 1 },
          services: Object.fromEntries(instances.map((instance) => [instance.name, { ...instance, target }])),
        };
      }
      return manifest;
    },
    deploy(manifest, extra) {
      return applyGoal({ kind: 'manifest', manifest, description: 'test' }, options(extra));
    },
    switchTo(generation) {
      return applyGoal({ kind: 'generation', generation }, options());
    },
    async running(target) {
      const agent = agents.get(target)!.agent;
      const answer = await api(agent.url, 'GET', '/v1/services', { token });
      return answer.body.services.map(({ name, pid, hash }: { name: string; pid: number; hash: string }) => ({
        name,
        pid,
        hash,
      }));
    },
  };
}

t.test(
  'deploy, redeploy nothing, change one target only, fail and roll back, switch generations',
  async (t) => {
    const r = await rig(t, ['test1', 'test2']);
    const [p1, p2, p3, p4] = [
      await servicePort(),
      await servicePort(),
      await servicePort(),
      await servicePort(),
    ];
    // `b` depends on `a`: activated after it, deactivated before it.
    const a = processService('a', p1);
    const b = {
      ...processService('b', p2),
      dependsOn: [
        { service: 'a', hashes: [a.hash], addresses: [{ target: 'test1', hostname: '127.0.0.1', port: p1 }] },
      ],
    };
    const c = processService('c', p3);
    const gen1 = r.manifest({ test1: [a, b], test2: [c] });

    const dry = await r.deploy(gen1, { dryRun: true });
    t.equal(dry.changed, false);
    t.equal(await httpGet(p1), undefined, 'dry run starts nothing');

    const first = await r.deploy(gen1);
    t.equal(first.generation, 1);
    t.equal(await httpGet(p1), 'a');
    t.equal(await httpGet(p3), 'c');
    const log = r.out.join('');
    t.match(log, /\[target: test1\] \+\d+\.\d{3}s activated a: started \(pid \d+, port \d+\)/);
    t.ok(log.indexOf('activated a:') < log.indexOf('activated b:'), 'dependency first');
    t.match(log, /\[coordinator\] .*locked test1, test2/);
    t.match(log, /unlocked test1, test2/);

    // Nothing changed: no agent is contacted at all (a wrong token would be refused by any agent).
    const same = await r.deploy(gen1, { token: 'wrong' });
    t.equal(same.generation, 1);
    t.equal(same.changed, false);

    // Change c (test2 only): test1 keeps its processes and its state file is not even rewritten.
    const test1Before = await r.running('test1');
    const test1State = await stat(join(r.agents.get('test1')!.dir, 'state.json'));
    const c2 = processService('c', p3, { env: { GREETING: '-v2' } });
    const gen2 = r.manifest({ test1: [a, b], test2: [c2] });
    r.out.length = 0;
    const second = await r.deploy(gen2);
    t.equal(second.generation, 2);
    t.equal(await httpGet(p3), 'c-v2');
    t.same(await r.running('test1'), test1Before, 'test1 untouched');
    t.equal(
      (await stat(join(r.agents.get('test1')!.dir, 'state.json'))).mtimeMs,
      test1State.mtimeMs,
      'test1 state not written',
    );
    t.match(r.out.join(''), /untouched: test1/);
    t.notMatch(r.out.join(''), /locked test1/);

    // Gen 3 adds d on test1 on a port someone holds: fails, rolls back, gen 2 keeps serving.
    const blocker = await listenOn(t, p4);
    const gen3 = r.manifest({
      test1: [a, b, processService('d', p4)],
      test2: [processService('c', p3, { env: { GREETING: '-v3' } })],
    });
    const failed = await r.deploy(gen3).catch((error: unknown) => error);
    t.type(failed, DeployError);
    t.match(
      (failed as DeployError).message,
      /activate failed on target test1, service d: .*already in use; rolled back to generation 2/,
    );
    t.equal((failed as DeployError).exitCode, 1);
    t.equal(await httpGet(p3), 'c-v2', 'the previous generation keeps serving');
    t.equal(await new GenerationStore(r.stateDir).current(), 2);
    t.same((await r.running('test1')).map((s) => s.name).sort(), ['a', 'b']);
    blocker.close();

    // Rollback to generation 1 (what --rollback does) and forward again.
    const back = await r.switchTo(1);
    t.equal(back.generation, 1);
    t.equal(await httpGet(p3), 'c');
    t.same(
      (await r.running('test1')).map((s) => s.pid),
      test1Before.map((s) => s.pid),
      'test1 still untouched',
    );
    t.same((await r.switchTo(2)).generation, 2);
    t.equal(await httpGet(p3), 'c-v2');

    // Undeploy: an empty manifest is a generation too.
    const empty = await r.deploy({ version: 1, targets: {} });
    t.equal(empty.generation, 3);
    t.same(await r.running('test1'), []);
    t.equal(await httpGet(p1), undefined);
  },
);

t.test('a wrong token changes nothing and says so', async (t) => {
  const r = await rig(t, ['test1']);
  const port = await servicePort();
  const error = await r
    .deploy(r.manifest({ test1: [processService('a', port)] }), { token: 'nope' })
    .catch((e) => e);
  t.match(error.message, /target test1: the agent at 127\.0\.0\.1:\d+ refused the token \(401\)/);
  t.same(await r.running('test1'), []);
  t.equal(await new GenerationStore(r.stateDir).current(), 0);
});

t.test('a held lock fails the deploy at once, naming the holder; other locks are released', async (t) => {
  const r = await rig(t, ['test1', 'test2']);
  const holder = new AgentClient({
    target: 'test2',
    address: { host: '127.0.0.1', port: r.agents.get('test2')!.agent.port },
    token: r.token,
  });
  await holder.lock('alice at her desk', 60_000);
  t.teardown(() => holder.close());
  const gen = r.manifest({
    test1: [processService('a', await servicePort())],
    test2: [processService('b', await servicePort())],
  });
  const started = Date.now();
  const error = await r.deploy(gen).catch((e) => e);
  t.ok(Date.now() - started < 2000, 'fails at once');
  t.match(error.message, /lock: target test2 is locked by alice at her desk/);
  t.equal(error.code, 'NODIX_ERR_LOCKED');
  const test1 = await api(r.agents.get('test1')!.agent.url, 'GET', '/v1/services', { token: r.token });
  t.same(test1.body, { services: [], lock: null }, 'test1 was unlocked again and nothing started');
});

t.test('a failed rollback prints the command that resumes it, and that command works', async (t) => {
  const r = await rig(t, ['test1']);
  const p1 = await servicePort();
  const gen1 = r.manifest({ test1: [processService('a', p1)] });
  await r.deploy(gen1);
  // Gen 2 replaces a and adds a target whose agent is not running: activation there fails, and so does the rollback.
  // (Without locks: with them, locking the dead target would stop the deployment before anything changed.)
  const deadPort = await servicePort();
  const gen2 = r.manifest({
    test1: [processService('a', p1, { env: { GREETING: '-v2' } })],
    test9: [processService('z', await servicePort())],
  });
  gen2.targets.test9!.agent = { host: '127.0.0.1', port: deadPort };
  const error = await r.deploy(gen2, { lock: false }).catch((e) => e);
  t.equal(error.code, 'NODIX_ERR_ROLLBACK');
  t.match(error.message, /activate failed on target test9, service z: agent at 127\.0\.0\.1:\d+ unreachable/);
  t.match(
    error.message,
    new RegExp(`Resume with: nodix deploy --switch-to-generation 1 --state-dir ${r.stateDir}`),
  );
  t.ok(await new GenerationStore(r.stateDir).pending(), 'the unfinished deployment is remembered');
  // The resume command compares with what the agents run; test9's agent is still down, so take it out of the picture.
  const store = new GenerationStore(r.stateDir);
  const pending = (await store.pending())!;
  delete pending.targets.test9;
  await store.setPending(pending);
  const resumed = await r.switchTo(1);
  t.equal(resumed.generation, 1);
  t.equal(await httpGet(p1), 'a', 'generation 1 serves again');
  t.equal(await store.pending(), undefined);
});

async function listenOn(t: Test, port: number) {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return server;
}
