import fc from 'fast-check';
import t from 'tap';
import { naturalCompare, naturalSort, sortKeysNaturally } from '../../src/plan/natural-sort.js';

t.test('orders digit runs as numbers', async (t) => {
  const cases: [string[], string[]][] = [
    [
      ['webapp10', 'webapp2', 'webapp1'],
      ['webapp1', 'webapp2', 'webapp10'],
    ],
    [
      ['test10', 'test9', 'test1'],
      ['test1', 'test9', 'test10'],
    ],
    [
      ['a02', 'a2', 'a1'],
      ['a1', 'a2', 'a02'],
    ],
    [
      ['x', 'x1', 'x0'],
      ['x', 'x0', 'x1'],
    ],
    [
      ['b', 'a10b', 'a10a', 'a9z'],
      ['a9z', 'a10a', 'a10b', 'b'],
    ],
    [
      ['n99999999999999999999999', 'n100000000000000000000000'],
      ['n99999999999999999999999', 'n100000000000000000000000'],
    ],
    [
      ['proxy-test2', 'proxy-test10', 'proxy-test1'],
      ['proxy-test1', 'proxy-test2', 'proxy-test10'],
    ],
  ];
  for (const [input, expected] of cases) t.same(naturalSort(input), expected, input.join(' '));
});

t.test('is a total order: antisymmetric, and 0 only for equal strings', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom('a', 'b', '0', '1', '9', '-') }), fc.string(), (a, b) => {
      const ab = Math.sign(naturalCompare(a, b));
      const ba = Math.sign(naturalCompare(b, a));
      return ab === -ba && (ab === 0) === (a === b);
    }),
  );
  t.pass();
});

t.test('sortKeysNaturally keeps a __proto__ key as a plain key', async (t) => {
  const record = JSON.parse('{"b2": 1, "__proto__": 2, "b10": 3}') as Record<string, number>;
  const sorted = sortKeysNaturally(record);
  t.same(Object.keys(sorted), ['__proto__', 'b2', 'b10']);
  t.equal(Object.getPrototypeOf(sorted), Object.prototype);
});
