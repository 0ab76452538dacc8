/**
 * The seeded fuzzer (fuzz.ts), bounded for CI: a fixed seed and a fixed number of scenarios, all of which must
 * run, so every run checks the same scenarios (about 8 s on an idle machine; the time cap is only a safety valve
 * below tap's timeout). Longer runs: `npm run fuzz -- --seconds N --seed S`.
 */
import t from 'tap';
import { makeScenario, mulberry32, runFuzz } from './fuzz.js';

t.test('the generator is deterministic: same seed, same scenario', async (t) => {
  t.same(makeScenario(7, 3), makeScenario(7, 3));
  t.not(JSON.stringify(makeScenario(7, 3)), JSON.stringify(makeScenario(8, 3)));
  const a = mulberry32(1);
  const b = mulberry32(1);
  t.same([a(), a(), a()], [b(), b(), b()]);
});

t.test('fixed seed: no crash, no answer to the wrong client, both paths agree, nothing stalls', async (t) => {
  const result = await runFuzz(t, { seed: 20261203, scenarios: 300, durationMs: 100_000, concurrency: 4 });
  t.equal(result.scenarios, 300, `every scenario of the seed ran (${result.requests} requests)`);
  t.same(
    result.failures.map(
      (f) =>
        `scenario ${f.scenario}: ${f.what}\n${f.detail}\n${JSON.stringify(f.reproducer.chunks).slice(0, 2000)}`,
    ),
    [],
    'no failure',
  );
});
