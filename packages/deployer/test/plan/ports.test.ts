import fc from 'fast-check';
import t from 'tap';
import { ModelError, PortPoolExhaustedError, UsageError } from '../../src/errors.js';
import {
  type AssignPortsInput,
  assignPorts,
  type PortRequest,
  type PortsFile,
  parsePortRange,
  parsePortsFile,
} from '../../src/plan/ports.js';

const shared = (name: string, ...targets: string[]): PortRequest => ({
  name,
  pool: 'shared',
  targets: targets.length ? targets : ['t1'],
});
const priv = (name: string, ...targets: string[]): PortRequest => ({ name, pool: 'private', targets });

t.test('assignments', async (t) => {
  const first = assignPorts({ requests: [shared('webapp10'), shared('webapp2'), shared('webapp1')] });
  const cases: {
    name: string;
    input: AssignPortsInput;
    ports: Record<string, number>;
    check?: (out: PortsFile) => void;
  }[] = [
    {
      name: 'fresh: natural order from the bottom of the pool',
      input: { requests: [shared('webapp10'), shared('webapp2'), shared('webapp1')] },
      ports: { webapp1: 3000, webapp2: 3001, webapp10: 3002 },
    },
    {
      name: 'previous assignments stay, new ones come after the last port, obsolete ones go',
      input: {
        requests: [shared('webapp1'), shared('webapp10'), shared('webapp11')],
        previous: first,
      },
      ports: { webapp1: 3000, webapp10: 3002, webapp11: 3003 },
      check: (out) => t.equal(out.shared.lastPort, 3003, 'lastPort moves to the new port'),
    },
    {
      name: 'wraps around and skips ports in use',
      input: {
        requests: [shared('a'), shared('b'), shared('c')],
        previous: {
          ports: {},
          shared: { min: 3000, max: 3003, lastPort: 3002, assignments: { a: 3000 } },
          private: { min: 8000, max: 9000, targets: {} },
        },
      },
      ports: { a: 3000, b: 3003, c: 3001 },
    },
    {
      name: 'ports services chose themselves are skipped',
      input: { requests: [shared('w')], fixed: [{ name: 'own', port: 3000, targets: ['t2'] }] },
      ports: { w: 3001 },
    },
    {
      name: 'private pools are per target',
      input: { requests: [priv('a', 't1'), priv('b', 't2'), priv('c', 't1', 't2')] },
      ports: { a: 8000, b: 8000, c: 8001 },
      check: (out) =>
        t.same(out.private.targets, {
          t1: { lastPort: 8001, assignments: { a: 8000, c: 8001 } },
          t2: { lastPort: 8001, assignments: { b: 8000, c: 8001 } },
        }),
    },
    {
      name: 'a narrower range moves what no longer fits',
      input: {
        requests: [shared('webapp1'), shared('webapp10')],
        previous: first,
        sharedRange: { min: 3001, max: 3005 },
      },
      ports: { webapp1: 3003, webapp10: 3002 },
    },
    {
      name: 'a hand-written { ports } file is kept like previous assignments',
      input: {
        requests: [shared('x'), priv('y', 't1')],
        previous: parsePortsFile({ ports: { x: 3500, y: 8500 } }, 'p.json'),
      },
      ports: { x: 3500, y: 8500 },
    },
    {
      name: 'services placed nowhere get no port',
      input: { requests: [{ name: 'idle', pool: 'shared', targets: [] }] },
      ports: {},
    },
  ];
  for (const { name, input, ports, check } of cases) {
    const out = assignPorts(input);
    t.same(out.ports, ports, name);
    check?.(out);
  }
});

t.test('errors', async (t) => {
  t.throws(
    () =>
      assignPorts({
        requests: [shared('a'), shared('b'), shared('c')],
        sharedRange: { min: 3000, max: 3001 },
      }),
    new PortPoolExhaustedError(
      "the shared port pool 3000-3001 is full: no port left for 'c' (2 of 2 in use); widen it with --shared-range",
      'shared port pool 3000-3001',
    ),
    'full shared pool',
  );
  t.throws(
    () =>
      assignPorts({ requests: [priv('a', 't1'), priv('b', 't1')], privateRange: { min: 8000, max: 8000 } }),
    /^the private port pool 8000-8000 of target 't1' is full: no port left for 'b' \(1 of 1 in use\); widen it with --private-range$/,
    'full private pool',
  );
  t.throws(
    () =>
      assignPorts({
        requests: [priv('a', 't1'), priv('b', 't2'), priv('c', 't1', 't2')],
        privateRange: { min: 8000, max: 8001 },
        fixed: [{ name: 'x', port: 8001, targets: ['t1'] }],
      }),
    PortPoolExhaustedError,
    'no port free on all targets of a multi-target private service',
  );
  t.throws(
    () => assignPorts({ requests: [], sharedRange: { min: 8500, max: 8600 } }),
    UsageError,
    'overlapping shared and private ranges',
  );
  t.throws(
    () => parsePortRange('4000-3000', '--shared-range'),
    /--shared-range: '4000-3000' is not a port range/,
  );
  t.throws(() => parsePortRange('abc', '--private-range'), UsageError);
  t.same(parsePortRange(' 1-65535 ', '--x'), { min: 1, max: 65535 });

  const bad: [unknown, RegExp][] = [
    [[], /^p\.json: must be an object with `ports`, got an array of 0$/],
    [{ ports: { a: 0 } }, /^p\.json: ports\.a: must be a port number \(1-65535\), got 0$/],
    [{ ports: {}, shared: { min: 1, max: 'x' } }, /^p\.json: shared\.max: must be a port number/],
    [
      { ports: {}, shared: { min: 1, max: 2, lastPort: -1 } },
      /^p\.json: shared\.lastPort: must be a port number or null/,
    ],
    [
      { ports: {}, private: { min: 1, max: 2, targets: { t1: { assignments: { a: 'x' } } } } },
      /^p\.json: private\.targets\.t1\.assignments\.a:/,
    ],
  ];
  for (const [json, message] of bad)
    t.throws(() => parsePortsFile(json, 'p.json'), ModelError, String(message));
  for (const [json, message] of bad) {
    try {
      parsePortsFile(json, 'p.json');
    } catch (error) {
      t.match((error as Error).message, message);
    }
  }
});

const requestsArbitrary = fc.uniqueArray(
  fc.record({
    name: fc.stringMatching(/^[a-z]{1,3}[0-9]{0,2}$/),
    pool: fc.constantFrom('shared' as const, 'private' as const),
    targets: fc.subarray(['t1', 't2', 't3'], { minLength: 1 }),
  }),
  { selector: (r) => r.name, maxLength: 25 },
);

function checkInvariants(out: PortsFile, requests: PortRequest[]): boolean {
  const sharedPorts = Object.values(out.shared.assignments);
  if (new Set(sharedPorts).size !== sharedPorts.length) return false;
  if (sharedPorts.some((port) => port < out.shared.min || port > out.shared.max)) return false;
  for (const pool of Object.values(out.private.targets)) {
    const ports = Object.values(pool.assignments);
    if (new Set(ports).size !== ports.length) return false;
    if (ports.some((port) => port < out.private.min || port > out.private.max)) return false;
  }
  return requests.every((r) => out.ports[r.name] !== undefined);
}

t.test('property: unique per pool, inside the pool, stable across runs', async (t) => {
  fc.assert(
    fc.property(requestsArbitrary, requestsArbitrary, (before, after) => {
      const ranges = { sharedRange: { min: 3000, max: 3040 }, privateRange: { min: 8000, max: 8040 } };
      const first = assignPorts({ requests: before, ...ranges });
      if (!checkInvariants(first, before)) return false;
      // Same input again: nothing moves.
      const again = assignPorts({ requests: before, previous: first, ...ranges });
      if (JSON.stringify(again) !== JSON.stringify(first)) return false;
      // Different services: the ones that still ask the same pool on the same targets keep their port.
      const next = assignPorts({ requests: after, previous: first, ...ranges });
      if (!checkInvariants(next, after)) return false;
      return after.every((request) => {
        const old = before.find((r) => r.name === request.name);
        if (old === undefined || old.pool !== request.pool) return true;
        if (request.pool === 'private' && request.targets.some((target) => !old.targets.includes(target)))
          return true;
        return next.ports[request.name] === first.ports[request.name];
      });
    }),
    { numRuns: 300 },
  );
  t.pass();
});

t.test(
  'property: a pool fills up exactly, then fails with PortPoolExhaustedError (never hangs)',
  async (t) => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: 40 }), (size, count) => {
        const requests = Array.from({ length: count }, (_, i) => shared(`s${i}`));
        try {
          const out = assignPorts({ requests, sharedRange: { min: 5000, max: 5000 + size - 1 } });
          return count <= size && Object.keys(out.ports).length === count;
        } catch (error) {
          return count > size && error instanceof PortPoolExhaustedError;
        }
      }),
    );
    t.pass();
  },
);
