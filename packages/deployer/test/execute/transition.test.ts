import t from 'tap';
import { runJobs } from '../../src/execute/run-jobs.js';
import { describeTransition, type Job, planTransition } from '../../src/execute/transition.js';
import type { Manifest, ServiceInstance } from '../../src/plan/types.js';

function svc(
  name: string,
  target: string,
  hash: string,
  extra: Partial<ServiceInstance> = {},
): ServiceInstance {
  return {
    name,
    type: 'webapp',
    target,
    hash,
    config: { dnsName: `${name}.local`, port: 3000 },
    dependsOn: [],
    connectsTo: [],
    ...extra,
  };
}

function proxy(target: string, hash: string, hosts: string[], port = 80): ServiceInstance {
  return svc(`proxy-${target}`, target, hash, {
    type: 'proxy',
    config: { port },
    routes: {
      version: 1,
      hosts: Object.fromEntries(hosts.map((h) => [h, { upstreams: [`http://${target}:3000`] }])),
    },
    dependsOn: hosts.map((h) => ({
      service: h.replace('.local', ''),
      hashes: [],
      addresses: [{ target, hostname: target }],
    })),
  });
}

function manifest(...instances: ServiceInstance[]): Manifest {
  const m: Manifest = { version: 1, targets: {} };
  for (const instance of instances) {
    m.targets[instance.target] ??= {
      name: instance.target,
      properties: {},
      agent: { host: instance.target, port: 7411 },
      services: {},
    };
    m.targets[instance.target]!.services[instance.name] = instance;
  }
  return m;
}

t.test('plans per target: added, removed, replaced, reloaded, untouched', async (t) => {
  const from = manifest(
    svc('a', 'test1', '1'),
    svc('b', 'test1', '1'),
    proxy('test1', 'p1', ['a.local', 'b.local']),
    svc('c', 'test2', '1'),
  );
  const to = manifest(
    svc('a', 'test1', '2'),
    svc('d', 'test1', '1'),
    proxy('test1', 'p2', ['a.local', 'd.local']),
    svc('c', 'test2', '1'),
  );
  const plan = planTransition(from, to);
  t.same(
    plan.targets.map((p) => [p.target, p.added, p.removed, p.replaced, p.updated]),
    [['test1', ['d'], ['b'], ['a'], ['proxy-test1']]],
  );
  t.same(plan.untouched, ['test2']);
  t.same(
    plan.deactivate.map((j) => j.key).sort(),
    ['test1/a', 'test1/b'],
    'the proxy is reloaded, not stopped',
  );
  t.same(
    plan.activate.find((j) => j.service === 'proxy-test1')?.after.sort(),
    ['test1/a', 'test1/d'],
    'dependencies first',
  );
  t.same(describeTransition(plan), [
    'test1: add d; remove b; restart changed a; reload proxy-test1',
    'untouched: test2',
  ]);
});

t.test('a proxy whose own settings change is restarted; deactivation runs dependents first', async (t) => {
  const from = manifest(svc('a', 'test1', '1'), proxy('test1', 'p1', ['a.local']));
  const moved = manifest(svc('a', 'test1', '1'), proxy('test1', 'p2', ['a.local'], 8080));
  t.same(planTransition(from, moved).targets[0]?.replaced, ['proxy-test1']);
  const gone = planTransition(from, manifest());
  t.same(
    gone.deactivate.find((j) => j.service === 'a')?.after,
    ['test1/proxy-test1'],
    'the proxy goes before its webapp',
  );
  t.same(gone.targets[0]?.agent, { host: 'test1', port: 7411 }, 'agent address of a target that disappears');
});

t.test('identical manifests: nothing to do', async (t) => {
  const m = manifest(svc('a', 'test1', '1'), proxy('test1', 'p1', ['a.local']));
  const plan = planTransition(m, m);
  t.same(plan.targets, []);
  t.same(plan.untouched, ['test1']);
});

t.test('runJobs: order, parallelism per target, stop after the first failure', async (t) => {
  const job = (target: string, service: string, after: string[] = []): Job => ({
    key: `${target}/${service}`,
    target,
    service,
    kind: 'activate',
    after,
  });
  const events: string[] = [];
  let inFlight = 0;
  let most = 0;
  const result = await runJobs(
    [job('t1', 'proxy', ['t1/a', 't1/b']), job('t1', 'a'), job('t1', 'b'), job('t2', 'c')],
    async (j) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      events.push(`start ${j.key}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      events.push(`end ${j.key}`);
      inFlight -= 1;
    },
  );
  t.equal(result.failure, undefined);
  t.equal(most, 3, 'a, b and c at once');
  t.ok(
    events.indexOf('start t1/proxy') > events.indexOf('end t1/a') &&
      events.indexOf('start t1/proxy') > events.indexOf('end t1/b'),
  );

  const started: string[] = [];
  const failed = await runJobs([job('t1', 'a'), job('t1', 'b', ['t1/a']), job('t2', 'c')], async (j) => {
    started.push(j.key);
    if (j.key === 't1/a') throw new Error('boom');
    await new Promise((resolve) => setTimeout(resolve, 20));
  });
  t.equal(failed.failure?.job.key, 't1/a');
  t.equal(failed.failure?.error.message, 'boom');
  t.notOk(started.includes('t1/b'), 'the dependent never starts');
  t.same(
    failed.done.map((j) => j.key),
    ['t2/c'],
    'running jobs are awaited',
  );

  const limited: number[] = [];
  let now = 0;
  await runJobs(
    Array.from({ length: 6 }, (_, i) => job('t1', `s${i}`)),
    async () => {
      now += 1;
      limited.push(now);
      await new Promise((resolve) => setTimeout(resolve, 5));
      now -= 1;
    },
    2,
  );
  t.ok(Math.max(...limited) <= 2, 'at most 2 at a time on one target');
});
