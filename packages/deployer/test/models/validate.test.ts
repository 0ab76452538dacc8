import t from 'tap';
import { DependencyCycleError, ModelError, ModelLoadError } from '../../src/errors.js';
import { evaluateModels, type ModelSources } from '../../src/models/pipeline.js';
import type { Services, ServicesModelArgs } from '../../src/models/types.js';
import { targetSpecific } from '../../src/plan/target-specific.js';

const files = {
  infrastructure: 'infrastructure.ts',
  services: 'services.ts',
  distribution: 'distribution.ts',
};

const infrastructure = {
  test1: { properties: { hostname: 'test1', capacity: 10 } },
  test2: { properties: { hostname: 'test2', capacity: 10 } },
};

const webapp = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  type: 'webapp',
  dnsName: `${name}.local`,
  ...extra,
});

const servicesModel = ({ invDistribution }: ServicesModelArgs): Services => ({
  webapp1: webapp('webapp1', { port: 3001 }),
  webapp2: webapp('webapp2', { port: 3002 }),
  ...targetSpecific(invDistribution, (target, placed) => ({
    name: `proxy-${target.name}`,
    type: 'proxy',
    dependsOn: placed.filter((s) => s.type === 'webapp'),
  })),
});

const distribution = {
  webapp1: ['test1'],
  webapp2: ['test2'],
  'proxy-test1': ['test1'],
  'proxy-test2': ['test2'],
};

const base: ModelSources = { infrastructure, services: servicesModel, distribution };

const load = (sources: Partial<ModelSources>) => evaluateModels({ ...base, ...sources }, { files });

t.test(
  'the base models are valid, and target-specific services see what is placed on their target',
  async (t) => {
    const models = await load({});
    t.same(models.services?.specs.get('proxy-test1')?.dependsOn, ['webapp1']);
    t.same(models.services?.specs.get('proxy-test2')?.dependsOn, ['webapp2']);
    t.equal(models.services?.specs.get('proxy-test1')?.targetSpecificTo, 'test1');
  },
);

t.test('every model mistake is one message naming file, key and problem', async (t) => {
  const cases: {
    name: string;
    sources: Partial<ModelSources>;
    error: new (...args: never[]) => ModelError;
    message: string | RegExp;
  }[] = [
    {
      name: 'service name differs from its key',
      sources: { services: { webapp1: webapp('webapp2') }, distribution: {} },
      error: ModelError,
      message: `services.ts: webapp1.name: is "webapp2", must equal its key 'webapp1'`,
    },
    {
      name: 'dependsOn names a missing service',
      sources: { services: { a: { name: 'a', type: 'process', dependsOn: ['ghost'] } }, distribution: {} },
      error: ModelError,
      message: `services.ts: a.dependsOn[0]: names 'ghost', which is not in the services model`,
    },
    {
      name: 'connectsTo names a missing service',
      sources: {
        services: { a: { name: 'a', type: 'process', connectsTo: [{ name: 'ghost' }] } },
        distribution: {},
      },
      error: ModelError,
      message: `services.ts: a.connectsTo[0]: names 'ghost', which is not in the services model`,
    },
    {
      name: 'a cycle in dependsOn',
      sources: {
        services: {
          a: { name: 'a', type: 'process', dependsOn: ['b'] },
          b: { name: 'b', type: 'process', dependsOn: ['c'] },
          c: { name: 'c', type: 'process', dependsOn: ['a'] },
          d: { name: 'd', type: 'process', dependsOn: ['a'] },
        },
        distribution: {},
      },
      error: DependencyCycleError,
      message: 'services.ts: a.dependsOn: dependency cycle: a -> b -> c -> a',
    },
    {
      name: 'a cycle through connectsTo is fine, only dependsOn orders',
      sources: {
        services: {
          a: { name: 'a', type: 'process', connectsTo: ['b'] },
          b: { name: 'b', type: 'process', connectsTo: ['a'] },
        },
        distribution: {},
      },
      error: ModelError,
      message: '',
    },
    {
      name: 'a distribution key missing from the services model',
      sources: { distribution: { ...distribution, webapp9: ['test1'] } },
      error: ModelError,
      message: 'distribution.ts: webapp9: is not a service in the services model (services.ts)',
    },
    {
      name: 'a target missing from the infrastructure, by name',
      sources: { distribution: { ...distribution, webapp1: ['test3'] } },
      error: ModelError,
      message: `distribution.ts: webapp1[0]: target 'test3' is not in the infrastructure model (infrastructure.ts), which has: test1, test2`,
    },
    {
      name: 'a target missing from the infrastructure, as infrastructure.test3',
      sources: {
        distribution: ({ infrastructure }: { infrastructure: Record<string, unknown> }) => ({
          webapp1: [infrastructure.test1, infrastructure.test3],
        }),
      },
      error: ModelError,
      message:
        'distribution.ts: webapp1[1]: is undefined: a target that is not in the infrastructure model (infrastructure.ts)? It has: test1, test2',
    },
    {
      name: 'a target listed twice',
      sources: { distribution: { webapp1: ['test1', 'test1'] } },
      error: ModelError,
      message: `distribution.ts: webapp1[1]: lists target 'test1' twice`,
    },
    {
      name: 'two services with one dnsName on one target',
      sources: {
        services: {
          a: webapp('a', { port: 1 }),
          b: webapp('b', { port: 2, dnsName: 'A.local' }),
          c: webapp('c'),
        },
        distribution: { a: ['test1'], b: ['test1', 'test2'] },
      },
      error: ModelError,
      message: `services.ts: b.dnsName: 'A.local' is also the dnsName of 'a', and both are placed on target 'test1'`,
    },
    {
      name: 'two services with one port on one target',
      sources: {
        services: { a: webapp('a', { port: 3000 }), b: webapp('b', { port: 3000 }) },
        distribution: { a: ['test2'], b: ['test2'] },
      },
      error: ModelError,
      message: `services.ts: b.port: port 3000 is also used by 'a', and both are placed on target 'test2'`,
    },
    {
      name: 'an assigned port that collides is left for port-assign to move (and buildManifest to check)',
      sources: {
        services: {
          a: webapp('a', { port: 8000, portAssign: 'private' }),
          b: webapp('b', { port: 8000, portAssign: 'private' }),
        },
        distribution: { a: ['test1'], b: ['test1'] },
      },
      error: ModelError,
      message: '',
    },
    {
      name: 'an unknown type',
      sources: { services: { a: { name: 'a', type: 'webap' } }, distribution: {} },
      error: ModelError,
      message: 'services.ts: a.type: unknown type "webap"; known types: webapp, proxy, process',
    },
    {
      name: 'a missing type',
      sources: { services: { a: { name: 'a' } }, distribution: {} },
      error: ModelError,
      message: 'services.ts: a.type: is undefined, must be a string',
    },
    {
      name: 'a service that is not an object',
      sources: { services: { a: 'webapp' }, distribution: {} },
      error: ModelError,
      message: 'services.ts: a: must be a service object, got "webapp"',
    },
    {
      name: 'a services model that is not an object',
      sources: { services: () => [1], distribution: {} },
      error: ModelError,
      message: 'services.ts: must define an object of services (name -> service), got an array of 1',
    },
    {
      name: 'a bad portAssign',
      sources: { services: { a: webapp('a', { portAssign: 'public' }) }, distribution: {} },
      error: ModelError,
      message: `services.ts: a.portAssign: must be 'shared' or 'private', got "public"`,
    },
    {
      name: 'a bad port',
      sources: { services: { a: webapp('a', { port: 70000 }) }, distribution: {} },
      error: ModelError,
      message: 'services.ts: a.port: must be a port number (1-65535), got 70000',
    },
    {
      name: 'dependsOn that is not a list',
      sources: { services: { a: { name: 'a', type: 'proxy', dependsOn: 'b' } }, distribution: {} },
      error: ModelError,
      message: 'services.ts: a.dependsOn: must be an array of services, got "b"',
    },
    {
      name: 'a service name with a space',
      sources: { services: { 'web app': { name: 'web app', type: 'webapp' } }, distribution: {} },
      error: ModelError,
      message: /^services\.ts: "web app": service name must start with/,
    },
    {
      name: 'a services model function that throws',
      sources: {
        services: () => {
          throw new Error('boom');
        },
      },
      error: ModelLoadError,
      message: /^services\.ts: the model function threw: boom/,
    },
    {
      name: 'an infrastructure that is not an object',
      sources: { infrastructure: 42 },
      error: ModelError,
      message: 'infrastructure.ts: must define an object of targets (name -> { properties }), got 42',
    },
    {
      name: 'a target with a bad agentPort',
      sources: { infrastructure: { test1: { properties: { agentPort: '7411' } } } },
      error: ModelError,
      message: 'infrastructure.ts: test1.properties.agentPort: must be a port number (1-65535), got "7411"',
    },
    {
      name: 'a target with an empty hostname',
      sources: { infrastructure: { test1: { properties: { hostname: '' } } } },
      error: ModelError,
      message: 'infrastructure.ts: test1.properties.hostname: must be a non-empty string, got ""',
    },
    {
      name: 'a target whose name differs from its key',
      sources: { infrastructure: { test1: { name: 'test2', properties: {} } } },
      error: ModelError,
      message: `infrastructure.ts: test1.name: is "test2", must equal its key 'test1'`,
    },
    {
      name: 'a distribution entry that is not a target',
      sources: { distribution: { webapp1: [42] } },
      error: ModelError,
      message: 'distribution.ts: webapp1[0]: must be a target (a name or an infrastructure target), got 42',
    },
  ];
  for (const { name, sources, error, message } of cases) {
    if (message === '') {
      await t.resolves(load(sources), name);
      continue;
    }
    await t.rejects(load(sources), error, name);
    await load(sources).catch((e: Error) => {
      if (typeof message === 'string') t.equal(e.message, message, `${name}: message`);
      else t.match(e.message, message, `${name}: message`);
      t.equal((e as ModelError).exitCode, 2, `${name}: exit code 2`);
    });
  }
});

t.test('extra params reach every model function, spread and as extraParams', async (t) => {
  const seen: unknown[] = [];
  await evaluateModels(
    {
      infrastructure: (args: Record<string, unknown>) => {
        seen.push(args.count, (args.extraParams as Record<string, unknown>).count);
        return infrastructure;
      },
      services: (args: Record<string, unknown>) => {
        seen.push(args.count);
        return {};
      },
      distribution: (args: Record<string, unknown>) => {
        seen.push(args.count);
        return {};
      },
    },
    { files, extraParams: { count: 7 } },
  );
  t.same(seen, [7, 7, 7, 7]);
});

t.test('a services model whose placements never settle is refused, not looped on', async (t) => {
  let round = 0;
  const unsettled = ({ invDistribution }: ServicesModelArgs) => {
    round++;
    return {
      [`s${round}`]: { name: `s${round}`, type: 'process' },
      ...targetSpecific(invDistribution, (target) => ({ name: `p-${target.name}`, type: 'proxy' })),
    };
  };
  await t.rejects(
    evaluateModels(
      {
        infrastructure,
        services: unsettled,
        distribution: { s1: ['test1'], s2: ['test1'], s3: ['test1'], s4: ['test1'], s5: ['test1'] },
      },
      { files },
    ),
    /services\.ts: does not settle/,
  );
});
