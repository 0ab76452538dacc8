import t from 'tap';
import { ModelError } from '../../src/errors.js';
import { evaluateModels, type ModelSources } from '../../src/models/pipeline.js';
import type { Services, ServicesModelArgs } from '../../src/models/types.js';
import { buildManifest } from '../../src/plan/manifest.js';
import { targetSpecific } from '../../src/plan/target-specific.js';
import { DEFAULT_AGENT_PORT, type Manifest } from '../../src/plan/types.js';

const files = {
  infrastructure: 'infrastructure.ts',
  services: 'services.ts',
  distribution: 'distribution.ts',
};

const infrastructure = {
  test1: { properties: { hostname: 'test1' } },
  test2: {
    properties: {
      hostname: 'fd00::2',
      agentHost: 'agent2',
      agentPort: 9000,
      proxyPort: 8082,
      bindHost: '::',
    },
  },
  test3: { properties: {} },
};

interface Options {
  extra?: Record<string, Record<string, unknown>>;
  distribution?: Record<string, string[]>;
  ports?: Record<string, number>;
}

function services(extra: Record<string, Record<string, unknown>> = {}) {
  return ({ invDistribution, ports }: ServicesModelArgs): Services => ({
    webapp1: {
      name: 'webapp1',
      type: 'webapp',
      dnsName: 'webapp1.local',
      portAssign: 'shared',
      port: ports.webapp1,
    },
    webapp2: { name: 'webapp2', type: 'webapp', dnsName: 'webapp2.local', port: 3002, ...extra.webapp2 },
    webapp3: { name: 'webapp3', type: 'webapp', dnsName: 'webapp3.local', port: 3003, ...extra.webapp3 },
    db: { name: 'db', type: 'process', port: 5432, ...extra.db },
    api: { name: 'api', type: 'process', dependsOn: ['db'], connectsTo: ['webapp1'], ...extra.api },
    ...targetSpecific(invDistribution, (target, placed) => ({
      name: `proxy-${target.name}`,
      type: 'proxy',
      dependsOn: placed.filter((s) => s.type === 'webapp'),
    })),
  });
}

const defaultDistribution = {
  webapp1: ['test1', 'test2'],
  webapp2: ['test1'],
  webapp3: ['test2'],
  db: ['test2'],
  api: ['test1'],
  'proxy-test1': ['test1'],
  'proxy-test2': ['test2'],
};

async function plan({ extra, distribution = defaultDistribution, ports = { webapp1: 3001 } }: Options = {}) {
  const sources: ModelSources = {
    infrastructure,
    services: services(extra),
    distribution,
    ports: { ports },
  };
  const models = await evaluateModels(sources, { files: { ...files, ports: 'ports.json' } });
  return buildManifest({
    services: models.services!,
    infrastructure: models.infrastructure,
    distribution: models.distribution!,
    ports: models.ports!.ports,
    infrastructureFile: files.infrastructure,
    distributionFile: files.distribution,
  });
}

const hashes = (manifest: Manifest) =>
  Object.fromEntries(
    Object.values(manifest.targets).flatMap((target) =>
      Object.values(target.services).map((s) => [`${target.name}/${s.name}`, s.hash]),
    ),
  );

t.test('resolved configuration, addresses, agents and route tables', async (t) => {
  const { manifest, warnings } = await plan();
  const { test1, test2, test3 } = manifest.targets;
  t.same(test1?.agent, { host: 'test1', port: DEFAULT_AGENT_PORT }, 'agent: hostname and the default port');
  t.same(test2?.agent, { host: 'agent2', port: 9000 }, 'agent: agentHost and agentPort');
  t.same(
    test3?.agent,
    { host: 'test3', port: DEFAULT_AGENT_PORT },
    'agent: the target name without hostname',
  );
  t.same(test3?.services, {}, 'a target with nothing on it is still listed');

  t.same(test1?.services.webapp1?.config, {
    bindHost: '0.0.0.0',
    dnsName: 'webapp1.local',
    port: 3001,
    portAssign: 'shared',
  });
  t.same(test2?.services.webapp1?.config.bindHost, '::', "bindHost from the target's property");
  t.same(
    test1?.services['proxy-test1']?.config,
    { bindHost: '0.0.0.0', port: 80 },
    'proxy port defaults to 80',
  );
  t.same(
    test2?.services['proxy-test2']?.config,
    { bindHost: '::', port: 8082 },
    "proxy port from the target's proxyPort",
  );

  t.same(
    test1?.services['proxy-test1']?.routes,
    {
      version: 1,
      hosts: {
        'webapp1.local': { upstreams: ['http://test1:3001', 'http://[fd00::2]:3001'] },
        'webapp2.local': { upstreams: ['http://test1:3002'] },
      },
    },
    'route table: only the webapps placed on this target, each to all of its instances',
  );
  t.same(Object.keys(test2?.services['proxy-test2']?.routes?.hosts ?? {}), [
    'webapp1.local',
    'webapp3.local',
  ]);
  t.notOk(test1?.services.webapp1?.routes, 'only proxies have routes');

  const api = test1?.services.api;
  t.same(api?.dependsOn, [
    {
      service: 'db',
      hashes: [test2?.services.db?.hash],
      addresses: [{ target: 'test2', hostname: 'fd00::2', port: 5432 }],
    },
  ]);
  t.same(api?.connectsTo[0]?.addresses, [
    { target: 'test1', hostname: 'test1', port: 3001 },
    { target: 'test2', hostname: 'fd00::2', port: 3001 },
  ]);
  t.same(api?.connectsTo[0]?.hashes.length, 2, 'one hash per instance: the bind addresses differ');
  t.same(warnings, []);
});

t.test('identity hashes: equal input, equal hash; a change reaches only what depends on it', async (t) => {
  const before = hashes((await plan()).manifest);
  t.same(hashes((await plan()).manifest), before, 'deterministic');

  const changedOnTest2 = hashes((await plan({ extra: { webapp3: { greeting: 'hi' } } })).manifest);
  const changed = Object.keys(before).filter((key) => before[key] !== changedOnTest2[key]);
  t.same(
    changed,
    ['test2/proxy-test2', 'test2/webapp3'],
    'a webapp change on test2 changes nothing on test1',
  );

  const dbChanged = hashes((await plan({ extra: { db: { version: 2 } } })).manifest);
  t.same(
    Object.keys(before).filter((key) => before[key] !== dbChanged[key]),
    ['test1/api', 'test2/db'],
    "a dependency's identity is part of its dependents' identity",
  );

  const moved = hashes(
    (await plan({ distribution: { ...defaultDistribution, webapp2: ['test3'] } })).manifest,
  );
  t.not(moved['test1/proxy-test1'], before['test1/proxy-test1'], 'a route table change changes the proxy');
  t.equal(moved['test2/proxy-test2'], before['test2/proxy-test2'], 'the other proxy is untouched');
  t.equal(
    moved['test3/webapp2'],
    before['test1/webapp2'],
    'moving a service to an equal target keeps its identity',
  );

  const port = hashes((await plan({ ports: { webapp1: 3011 } })).manifest);
  t.not(port['test1/api'], before['test1/api'], 'a connectsTo address change changes the dependent');
});

t.test('errors and warnings', async (t) => {
  const cases: { name: string; options: Options; message: string }[] = [
    {
      name: 'a portAssign service without an assigned port',
      options: { ports: {} },
      message:
        "services.ts: webapp1.port: no port assigned (portAssign: 'shared'); run 'nodix port-assign' and pass its output with -p",
    },
    {
      name: 'an assigned port that collides on a target',
      options: { ports: { webapp1: 3002 } },
      message:
        "services.ts: webapp2.port: port 3002 is also used by 'webapp1', and both are placed on target 'test1'",
    },
    {
      name: 'a webapp without dnsName',
      options: { extra: { webapp2: { dnsName: undefined } } },
      message: 'services.ts: webapp2.dnsName: a webapp needs a dnsName to answer to',
    },
    {
      name: 'a dependency placed nowhere',
      options: { distribution: { api: ['test1'], webapp1: ['test1'] } },
      message: "distribution.ts: db: is placed on no target, but 'api' has it in dependsOn",
    },
    {
      name: 'one proxy routing one name to two services',
      options: {
        extra: { webapp3: { dnsName: 'webapp2.local' } },
        distribution: { ...defaultDistribution, webapp3: ['test2'], webapp2: ['test2'] },
      },
      message:
        "services.ts: webapp3.dnsName: 'webapp2.local' is also the dnsName of 'webapp2', and both are placed on target 'test2'",
    },
    {
      name: 'a configuration that is not JSON data',
      options: { extra: { db: { onStart: () => 1 } } },
      message: 'services.ts: db.onStart: is a function; only JSON data can be deployed',
    },
  ];
  for (const { name, options, message } of cases) {
    await t.rejects(plan(options), ModelError, name);
    await plan(options).catch((error: Error) => t.equal(error.message, message, name));
  }

  const { warnings } = await plan({ distribution: { ...defaultDistribution, 'proxy-test3': ['test3'] } });
  t.same(warnings, [
    "services.ts: proxy-test3: target-specific service for 'test3' has no dependencies (nothing is placed there for it)",
  ]);
});

t.test('2 000 services over 20 targets build one manifest (speed: the planning benchmark)', async (t) => {
  const targets = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`t${i + 1}`, { properties: {} }]));
  const many: Services = {};
  const distribution: Record<string, string[]> = {};
  for (let i = 1; i <= 2000; i++) {
    many[`w${i}`] = { name: `w${i}`, type: 'webapp', dnsName: `w${i}.local`, port: 10000 + i };
    distribution[`w${i}`] = [`t${(i % 20) + 1}`];
  }
  const models = await evaluateModels({ infrastructure: targets, services: many, distribution }, { files });
  const { manifest } = buildManifest({
    services: models.services!,
    infrastructure: models.infrastructure,
    distribution: models.distribution!,
  });
  t.equal(Object.keys(manifest.targets.t1!.services).length, 100);
});
