import t from 'tap';
import { describeTarget, growthExponent, median, sameRoundRatios, verdict } from '../lib/stats.js';

t.test('median', async (t) => {
  const cases: [number[], number][] = [
    [[3], 3],
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 2.5],
    [[5, Number.NaN, 1], 3],
  ];
  for (const [values, expected] of cases) t.equal(median(values), expected, `median(${values})`);
  t.ok(Number.isNaN(median([])), 'no values: NaN, not 0');
});

t.test('same-round ratios: one ratio per round, then the median', async (t) => {
  const { perRound, median: value } = sameRoundRatios([90, 100, 50], [100, 100, 100]);
  t.same(perRound, [0.9, 1, 0.5]);
  t.equal(value, 0.9);
  // A round where the divisor is zero or missing gives no ratio and does not drag the median.
  const gaps = sameRoundRatios([10, 20, 30], [0, 10]);
  t.ok(Number.isNaN(gaps.perRound[0]));
  t.same(gaps.perRound.slice(1), [2]);
  t.equal(gaps.median, 2);
  // The median of ratios, not the ratio of medians: a machine-wide slowdown in one round (round 2) moves both
  // setups of that round, and one round with an outlier (round 3) is dropped. The ratio of medians would be 1.5.
  const disturbed = sameRoundRatios([100, 50, 90], [110, 55, 60]);
  t.equal(disturbed.median, 100 / 110);
});

t.test('verdicts against targets', async (t) => {
  const cases: [number, Parameters<typeof verdict>[1], string][] = [
    [0.96, { min: 0.95 }, 'PASS'],
    [0.95, { min: 0.95 }, 'PASS'],
    [0.94, { min: 0.95 }, 'MISS'],
    [2, { max: 2 }, 'PASS'],
    [2.1, { max: 2 }, 'MISS'],
    [0, { max: 0 }, 'PASS'],
    [1, { min: 0.9, max: 1.1 }, 'PASS'],
    [Number.NaN, { min: 1 }, 'n/a'],
    [1, undefined, 'n/a'],
  ];
  for (const [value, target, expected] of cases)
    t.equal(verdict(value, target), expected, `${value} vs ${JSON.stringify(target)}`);
  t.equal(describeTarget({ min: 0.65 }), '>= 0.65');
  t.equal(describeTarget({ max: 100 }), '<= 100');
  t.equal(describeTarget({ min: 1, max: 2 }), '1 .. 2');
  t.equal(describeTarget(undefined), '');
});

t.test('growth exponent: 1 is linear, 2 quadratic', async (t) => {
  t.equal(growthExponent(100, 1, 1000, 10), 1);
  t.equal(growthExponent(100, 1, 1000, 100), 2);
  t.ok(Math.abs(growthExponent(1000, 10, 10_000, 100) - 1) < 1e-12);
  t.ok(Number.isNaN(growthExponent(100, 0, 1000, 1)), 'a zero time has no exponent');
});
