import t from 'tap';
import { type AdaptModels, placementOf, type Replan, replan } from '../../src/adapt/replan.js';
import { EMPTY_MANIFEST } from '../../src/execute/transition.js';
import type { Services, ServicesModelArgs } from '../../src/models/types.js';
import type { QosModelArgs } from '../../src/plan/gendist.js';
import { targetSpecific } from '../../src/plan/target-specific.js';
import type { Manifest } from '../../src/plan/types.js';

// The example's shape in memory: N web apps of weight 1, a proxy per target, three targets of capacity `capacity`.
function models(count: number, capacity: number, qos: unknown = spreadQos): AdaptModels {
  const services = ({ invDistribution, ports }: ServicesModelArgs): Services => {
    const webapps: Services = {};
    for (let i = 1; i <= count; i++) {
      webapps[`webapp${i}`] = {
        name: `webapp${i}`,
        type: 'webapp',
        dnsName: `webapp${i}.local`,
        portAssign: 'shared',
        port: ports[`webapp${i}`],
        weight: 1,
      };
    }
    return {
      ...webapps,
      ...targetSpecific(invDistribution, (target, placed) => ({
        name: `proxy-${target.name}`,
        type: 'proxy',
        dependsOn: placed.filter((s) => s.type === 'webapp'),
      })),
    };
  };
  const infrastructure = Object.fromEntries(
    ['test1', 'test2', 'test3'].map((name) => [name, { name, properties: { hostname: name, capacity } }]),
  );
  return {
    files: { services: 'services.ts', infrastructure: 'infrastructure.ts', qos: 'qos.ts' },
    sources: { services, qos },
    infrastructure,
    extraParams: {},
  };
}

// Web apps to the target with the most room left; every target its proxy.
function spreadQos({ services, infrastructure, initialDistribution, filters }: QosModelArgs) {
  return {
    ...filters.divide({
      strategy: 'highest-bidder',
      distribution: filters.select({
        distribution: initialDistribution,
        services,
        where: (s) => s.type === 'webapp',
      }),
      services,
      infrastructure,
      serviceProperty: 'weight',
      targetProperty: 'capacity',
    }),
    ...filters.targetSpecific({ services, infrastructure }),
  };
}

const all = new Set(['test1', 'test2', 'test3']);

async function first(m: AdaptModels): Promise<Replan> {
  return replan({
    models: m,
    live: all,
    previous: {},
    fresh: true,
    ports: undefined,
    current: EMPTY_MANIFEST,
    before: {},
  });
}

/** The next placement after `from`, for the targets `live`. */
function replanFrom(m: AdaptModels, from: Replan, live: Set<string>, { fresh }: { fresh: boolean }) {
  return replan({
    models: m,
    live,
    previous: placementOf(from.manifest, live),
    fresh,
    ports: from.ports,
    current: from.manifest,
    before: placementOf(from.manifest, all),
  });
}

function webappsOf(placement: Record<string, string[]>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(placement).filter(([name]) => name.startsWith('webapp')));
}

t.test('a lost target: only its services move, to where there is room; the rest stays', async (t) => {
  const m = models(6, 3);
  const initial = await first(m);
  t.same(webappsOf(initial.placement), {
    webapp1: ['test1'],
    webapp2: ['test2'],
    webapp3: ['test3'],
    webapp4: ['test1'],
    webapp5: ['test2'],
    webapp6: ['test3'],
  });
  const live = new Set(['test1', 'test2']);
  const after = await replanFrom(m, initial, live, { fresh: false });
  t.same(webappsOf(after.placement), {
    webapp1: ['test1'],
    webapp2: ['test2'],
    webapp3: ['test1'],
    webapp4: ['test1'],
    webapp5: ['test2'],
    webapp6: ['test2'],
  });
  t.same(
    after.moves,
    [
      { service: 'webapp3', from: ['test3'], to: ['test1'] },
      { service: 'webapp6', from: ['test3'], to: ['test2'] },
    ],
    'the moves name the services and both ends; the proxies are not moves',
  );
  t.same(after.unplaced, []);
  t.same(after.ports.ports, initial.ports.ports, 'shared ports never move');
  t.same(
    after.manifest.targets.test3,
    initial.manifest.targets.test3,
    'the lost target is carried over untouched',
  );
  const survivors = ['webapp1', 'webapp4'].map((s) => after.manifest.targets.test1?.services[s]?.hash);
  t.same(
    survivors,
    ['webapp1', 'webapp4'].map((s) => initial.manifest.targets.test1?.services[s]?.hash),
    'services that stay keep their identity (nothing restarts)',
  );
});

t.test('the qos model cannot move a service whose target is still there, whatever it prefers', async (t) => {
  // A model that would put every web app on test3 if it could: the previous placement still wins.
  const toTest3 = ({ services, infrastructure, initialDistribution, filters }: QosModelArgs) => ({
    ...filters.divide({
      strategy: 'greedy',
      distribution: filters.order({
        distribution: filters.select({
          distribution: initialDistribution,
          services,
          where: (s) => s.type === 'webapp',
        }),
        infrastructure,
        targetProperty: 'rank',
      }),
      services,
      infrastructure,
      serviceProperty: 'weight',
      targetProperty: 'capacity',
    }),
    ...filters.targetSpecific({ services, infrastructure }),
  });
  const m = models(4, 10);
  const initial = await first(m);
  const moved = models(4, 10, toTest3);
  (moved.infrastructure.test3 as { properties: Record<string, unknown> }).properties.rank = 1;
  const again = await replanFrom(moved, initial, all, { fresh: false });
  t.same(again.moves, [], 'nothing moves without --rebalance');
  const fresh = await replanFrom(moved, initial, all, { fresh: true });
  t.same(
    webappsOf(fresh.placement),
    { webapp1: ['test3'], webapp2: ['test3'], webapp3: ['test3'], webapp4: ['test3'] },
    'from scratch (--rebalance) the model places freely',
  );
});

t.test(
  'a service with nowhere to go is reported with the capacities, and the rest still moves',
  async (t) => {
    const m = models(6, 2);
    const initial = await first(m);
    const live = new Set(['test1', 'test3']);
    const after = await replanFrom(m, initial, live, { fresh: false });
    t.same(
      after.unplaced.map((u) => u.service),
      ['webapp2', 'webapp5'],
    );
    t.match(
      after.unplaced[0]?.reason,
      /no room for 'webapp2': it needs 1 of 'capacity'.*test1 has 0 left, test3 has 0 left/,
    );
    t.same(after.moves, [], 'nothing could move here: every live target is full');
    const m2 = models(6, 3);
    const initial2 = await first(m2);
    const roomy = {
      ...m2,
      infrastructure: {
        ...m2.infrastructure,
        test1: { name: 'test1', properties: { hostname: 'test1', capacity: 3 } },
        test3: { name: 'test3', properties: { hostname: 'test3', capacity: 2 } },
      },
    };
    const partly = await replanFrom(roomy, initial2, live, { fresh: false });
    t.same(partly.moves, [{ service: 'webapp2', from: ['test2'], to: ['test1'] }], 'what fits moves');
    t.same(
      partly.unplaced.map((u) => u.service),
      ['webapp5'],
      'what does not is named',
    );
    t.notOk(
      Object.values(partly.manifest.targets).some(
        (target) => target.name !== 'test2' && 'webapp5' in target.services,
      ),
    );
  },
);

t.test('a throwing qos model throws out of replan (the caller keeps the generation)', async (t) => {
  const m = models(2, 3, () => {
    throw new Error('qos is broken');
  });
  await t.rejects(first(m), {
    code: 'NODIX_ERR_MODEL_LOAD',
    message: /qos\.ts: the model function threw: qos is broken/,
  });
});

t.test('placementOf: service -> targets, restricted to the given targets', async (t) => {
  const manifest: Manifest = {
    version: 1,
    targets: {
      test2: {
        name: 'test2',
        properties: {},
        agent: { host: 'test2', port: 1 },
        services: { a: {} as never },
      },
      test1: {
        name: 'test1',
        properties: {},
        agent: { host: 'test1', port: 1 },
        services: { a: {} as never, b: {} as never },
      },
    },
  };
  t.same(placementOf(manifest), { a: ['test1', 'test2'], b: ['test1'] });
  t.same(placementOf(manifest, new Set(['test2'])), { a: ['test2'] });
});
