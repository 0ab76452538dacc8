import fc from 'fast-check';
import t from 'tap';
import { ModelError, NoRoomError } from '../../src/errors.js';
import { distributionToJson } from '../../src/models/distribution.js';
import { normalizeInfrastructure } from '../../src/models/infrastructure.js';
import type { Distribution, Infrastructure, Services } from '../../src/models/types.js';
import { createFilters, type DivideStrategy } from '../../src/plan/filters.js';
import { TARGET_SPECIFIC } from '../../src/plan/target-specific.js';

const filters = createFilters({ servicesFile: 'services.ts', infrastructureFile: 'infrastructure.ts' });

function infrastructure(properties: Record<string, Record<string, unknown>>): Infrastructure {
  return normalizeInfrastructure(
    Object.fromEntries(Object.entries(properties).map(([name, p]) => [name, { properties: p }])),
    'infrastructure.ts',
  );
}

function everywhere(infra: Infrastructure, services: Services): Distribution {
  return Object.fromEntries(Object.keys(services).map((name) => [name, Object.values(infra)]));
}

function services(properties: Record<string, Record<string, unknown>>): Services {
  return Object.fromEntries(
    Object.entries(properties).map(([name, p]) => [name, { name, type: 'webapp', ...p }]),
  ) as Services;
}

const weights = (...w: number[]) =>
  services(Object.fromEntries(w.map((weight, i) => [`s${i + 1}`, { weight }])));

t.test('divide: each strategy on the same input', async (t) => {
  const infra = infrastructure({ a: { capacity: 2 }, b: { capacity: 3 }, c: {} });
  const four = weights(1, 1, 1, 1);
  const cases: [DivideStrategy, Record<string, string[]>][] = [
    ['greedy', { s1: ['a'], s2: ['a'], s3: ['b'], s4: ['b'] }],
    ['highest-bidder', { s1: ['b'], s2: ['a'], s3: ['b'], s4: ['a'] }],
    ['lowest-bidder', { s1: ['a'], s2: ['a'], s3: ['b'], s4: ['b'] }],
    ['round-robin', { s1: ['a'], s2: ['b'], s3: ['a'], s4: ['b'] }],
  ];
  for (const [strategy, expected] of cases) {
    const result = filters.divide({
      strategy,
      distribution: everywhere(infra, four),
      services: four,
      infrastructure: infra,
      serviceProperty: 'weight',
      targetProperty: 'capacity',
    });
    t.same(distributionToJson(result), expected, strategy);
  }
});

t.test('divide: the README case, 20 webapps of weight 1 on two targets of capacity 10', async (t) => {
  const infra = infrastructure({ test1: { capacity: 10 }, test2: { capacity: 10 } });
  const twenty = weights(...Array.from({ length: 20 }, () => 1));
  for (const strategy of ['greedy', 'highest-bidder', 'lowest-bidder', 'round-robin'] as const) {
    const result = distributionToJson(
      filters.divide({
        strategy,
        distribution: everywhere(infra, twenty),
        services: twenty,
        serviceProperty: 'weight',
        targetProperty: 'capacity',
      }),
    );
    const count = (target: string) => Object.values(result).filter((targets) => targets[0] === target).length;
    t.same([count('test1'), count('test2')], [10, 10], strategy);
  }
});

t.test('divide: details', async (t) => {
  const infra = infrastructure({ a: { capacity: 2 }, b: { capacity: 2 }, c: {} });
  const two = weights(2, 2);
  const pinned = filters.divide({
    strategy: 'greedy',
    distribution: { s1: [infra.a!, infra.b!], s2: [infra.a!] },
    services: two,
    serviceProperty: 'weight',
    targetProperty: 'capacity',
  });
  t.same(
    distributionToJson(pinned),
    { s1: ['b'], s2: ['a'] },
    'a service with one candidate is placed first',
  );

  const noWeight = services({ x: {} });
  const placed = filters.divide({
    strategy: 'greedy',
    distribution: everywhere(infra, noWeight),
    services: noWeight,
    serviceProperty: 'weight',
    targetProperty: 'capacity',
  });
  t.same(distributionToJson(placed), { x: ['a'] }, 'a service without the property needs nothing');

  const onlyC = filters.divide({
    strategy: 'greedy',
    distribution: { s1: [infra.c!, infra.b!] },
    services: two,
    serviceProperty: 'weight',
    targetProperty: 'capacity',
  });
  t.same(distributionToJson(onlyC), { s1: ['b'] }, 'a target without the property is never a candidate');
});

t.test('divide: errors', async (t) => {
  const infra = infrastructure({ a: { capacity: 2 }, b: { capacity: 3 }, c: {}, d: { capacity: 'ten' } });
  const cases: {
    name: string;
    run: () => unknown;
    error: typeof ModelError | typeof NoRoomError;
    message: RegExp;
  }[] = [
    {
      name: 'no room left',
      run: () =>
        filters.divide({
          strategy: 'greedy',
          distribution: { s1: [infra.a!, infra.b!], s2: [infra.a!, infra.b!] },
          services: weights(3, 3),
          serviceProperty: 'weight',
          targetProperty: 'capacity',
        }),
      error: NoRoomError,
      message:
        /^no room for 's2': it needs 3 of 'capacity' \(its 'weight'\) and no candidate has that much left: a has 2 left, b has 0 left$/,
    },
    {
      name: 'no candidate has the property',
      run: () =>
        filters.divide({
          strategy: 'round-robin',
          distribution: { s1: [infra.c!] },
          services: weights(1),
          serviceProperty: 'weight',
          targetProperty: 'capacity',
        }),
      error: NoRoomError,
      message: /^no room for 's1': none of its candidate targets \(c\) has the property 'capacity'$/,
    },
    {
      name: 'no candidate at all',
      run: () =>
        filters.divide({
          strategy: 'greedy',
          distribution: { s1: [] },
          services: weights(1),
          serviceProperty: 'weight',
          targetProperty: 'capacity',
        }),
      error: NoRoomError,
      message: /^no room for 's1': no target is left as a candidate/,
    },
    {
      name: 'a weight that is not a number',
      run: () =>
        filters.divide({
          strategy: 'greedy',
          distribution: { s1: [infra.a!] },
          services: services({ s1: { weight: 'heavy' } }),
          serviceProperty: 'weight',
          targetProperty: 'capacity',
        }),
      error: ModelError,
      message: /^services\.ts: s1\.weight: must be a number >= 0 to divide on it, got "heavy"$/,
    },
    {
      name: 'a capacity that is not a number',
      run: () =>
        filters.divide({
          strategy: 'greedy',
          distribution: { s1: [infra.d!] },
          services: weights(1),
          serviceProperty: 'weight',
          targetProperty: 'capacity',
        }),
      error: ModelError,
      message: /^infrastructure\.ts: d\.properties\.capacity: must be a number to divide on it, got "ten"$/,
    },
    {
      name: 'an unknown strategy',
      run: () =>
        filters.divide({
          strategy: 'random' as DivideStrategy,
          distribution: {},
          services: {},
          serviceProperty: 'weight',
          targetProperty: 'capacity',
        }),
      error: ModelError,
      message: /unknown strategy "random"/,
    },
  ];
  for (const { name, run, error, message } of cases) {
    t.throws(run, error, name);
    try {
      run();
    } catch (e) {
      t.match((e as Error).message, message, name);
    }
  }
});

t.test('divide: property test, capacity never exceeded, every service placed or NoRoomError', async (t) => {
  const strategies = ['greedy', 'highest-bidder', 'lowest-bidder', 'round-robin'] as const;
  fc.assert(
    fc.property(
      fc.array(fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined }), {
        minLength: 1,
        maxLength: 6,
      }),
      fc.array(fc.record({ weight: fc.integer({ min: 0, max: 5 }), mask: fc.nat() }), { maxLength: 40 }),
      fc.constantFrom(...strategies),
      (capacities, specs, strategy) => {
        const infra = infrastructure(
          Object.fromEntries(
            capacities.map((capacity, i) => [`t${i + 1}`, capacity === undefined ? {} : { capacity }]),
          ),
        );
        const targets = Object.values(infra);
        const model = weights(...specs.map((s) => s.weight));
        // Each service gets a random non-empty subset of the targets as candidates.
        const distribution: Distribution = {};
        specs.forEach((s, i) => {
          const subset = targets.filter((_, k) => (s.mask >> k) & 1);
          distribution[`s${i + 1}`] = subset.length > 0 ? subset : targets;
        });
        let result: Distribution;
        try {
          result = filters.divide({
            strategy,
            distribution,
            services: model,
            serviceProperty: 'weight',
            targetProperty: 'capacity',
          });
        } catch (error) {
          return error instanceof NoRoomError;
        }
        const used = new Map<string, number>();
        for (const [name, placed] of Object.entries(distribution)) {
          const chosen = result[name];
          if (chosen?.length !== 1) return false;
          const target = chosen[0]!;
          if (!placed.includes(target) || target.properties.capacity === undefined) return false;
          used.set(target.name, (used.get(target.name) ?? 0) + (model[name]!.weight as number));
        }
        return [...used].every(([name, total]) => total <= (infra[name]!.properties.capacity as number));
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});

t.test('attribute matchers', async (t) => {
  const infra = infrastructure({
    eu1: { zone: 'eu', features: ['ssd', 'gpu'] },
    us1: { zone: 'us', features: ['ssd'] },
    bare: {},
  });
  const model = services({
    inEu: { zone: 'eu' },
    anywhere: {},
    needsGpu: { feature: 'gpu' },
    euOrUs: { zones: ['eu', 'us'] },
  });
  const all = everywhere(infra, model);
  const cases: [string, Distribution, Record<string, string[]>][] = [
    [
      'mapAttrOnAttr: service zone equals target zone',
      filters.mapAttrOnAttr({
        distribution: all,
        services: model,
        serviceProperty: 'zone',
        targetProperty: 'zone',
      }),
      {
        anywhere: ['bare', 'eu1', 'us1'],
        euOrUs: ['bare', 'eu1', 'us1'],
        inEu: ['eu1'],
        needsGpu: ['bare', 'eu1', 'us1'],
      },
    ],
    [
      'mapAttrOnList: service feature is in target features',
      filters.mapAttrOnList({
        distribution: all,
        services: model,
        serviceProperty: 'feature',
        targetProperty: 'features',
      }),
      {
        anywhere: ['bare', 'eu1', 'us1'],
        euOrUs: ['bare', 'eu1', 'us1'],
        inEu: ['bare', 'eu1', 'us1'],
        needsGpu: ['eu1'],
      },
    ],
    [
      'mapListOnAttr: service zones contain target zone',
      filters.mapListOnAttr({
        distribution: all,
        services: model,
        serviceProperty: 'zones',
        targetProperty: 'zone',
      }),
      {
        anywhere: ['bare', 'eu1', 'us1'],
        euOrUs: ['eu1', 'us1'],
        inEu: ['bare', 'eu1', 'us1'],
        needsGpu: ['bare', 'eu1', 'us1'],
      },
    ],
  ];
  for (const [name, result, expected] of cases) t.same(distributionToJson(result), expected, name);

  t.throws(
    () =>
      filters.mapAttrOnList({
        distribution: all,
        services: model,
        serviceProperty: 'zone',
        targetProperty: 'zone',
      }),
    /infrastructure\.ts: eu1\.properties\.zone: must be a list for this filter, got "eu"/,
    'a list filter on a property that is not a list',
  );
});

t.test('keepPrevious, order, select, targetSpecific', async (t) => {
  const infra = infrastructure({ a: { priority: 1 }, b: { priority: 5 }, c: {} });
  const model = services({
    db: { stateful: true },
    cache: { bound: true },
    web: {},
    gone: { stateful: true },
  });
  const all = everywhere(infra, model);
  const previous: Distribution = { db: [infra.b!], cache: [infra.a!], web: [infra.a!] };
  t.same(
    distributionToJson(
      filters.keepPrevious({ distribution: all, previousDistribution: previous, services: model }),
    ),
    { cache: ['a'], db: ['b'], gone: ['a', 'b', 'c'], web: ['a', 'b', 'c'] },
    'stateful and bound services stay; others and new ones keep every candidate',
  );
  t.same(
    distributionToJson(
      filters.keepPrevious({
        distribution: { db: [infra.a!, infra.c!] },
        previousDistribution: previous,
        services: model,
      }),
    ),
    { db: ['a', 'c'] },
    'a service whose previous target is no longer a candidate moves',
  );
  const order = (direction?: 'ascending' | 'descending') =>
    filters
      .order({ distribution: { web: [infra.c!, infra.a!, infra.b!] }, targetProperty: 'priority', direction })
      .web!.map((target) => target.name);
  t.same(order(), ['b', 'a', 'c'], 'order: highest first, targets without the property last');
  t.same(order('ascending'), ['a', 'b', 'c'], 'order ascending');
  t.same(
    Object.keys(filters.select({ distribution: all, services: model, where: (s) => s.stateful === true })),
    ['db', 'gone'],
    'select keeps the matching services',
  );
  const generated = {
    'proxy-a': { name: 'proxy-a', type: 'proxy', [TARGET_SPECIFIC]: 'a' },
    'proxy-x': { name: 'proxy-x', type: 'proxy', [TARGET_SPECIFIC]: 'x' },
    web: { name: 'web', type: 'webapp' },
  } as Services;
  t.same(
    distributionToJson(filters.targetSpecific({ services: generated, infrastructure: infra })),
    { 'proxy-a': ['a'] },
    'targetSpecific places generated services on their target (and skips unknown targets)',
  );
});
