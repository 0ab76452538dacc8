/**
 * LazyTimeout (src/lazy-timeout.ts) with node's real timers: due when started, pushed back by a restart without
 * re-arming, never late after a restart with a shorter duration, silent once stopped or cleared.
 */
import t from 'tap';
import { LazyTimeout } from '../src/lazy-timeout.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A timeout whose firings are recorded as ms since `t0`. */
function recorder() {
  const t0 = performance.now();
  const fired: number[] = [];
  const timeout = new LazyTimeout((list: number[]) => list.push(performance.now() - t0), fired);
  return { t0, fired, timeout };
}

t.test('fires once, when due', async (t) => {
  const { fired, timeout } = recorder();
  timeout.start(performance.now(), 40);
  t.ok(timeout.running);
  await sleep(150);
  t.equal(fired.length, 1, 'fired once');
  t.ok(fired[0]! >= 40, `not early (${fired[0]!.toFixed(1)} ms)`);
  t.notOk(timeout.running);
});

t.test('restarts push it back: it fires one period after the last restart, not before', async (t) => {
  const { t0, fired, timeout } = recorder();
  let last = 0;
  for (let i = 0; i < 8; i++) {
    last = performance.now();
    timeout.start(last, 50);
    await sleep(15);
  }
  t.equal(fired.length, 0, 'not fired while restarted within the period');
  await sleep(150);
  t.equal(fired.length, 1, 'fired once after the restarts stopped');
  t.ok(t0 + fired[0]! >= last + 50, 'one whole period after the last restart');
});

t.test('a restart with a shorter duration is not late (node timer re-armed)', async (t) => {
  const { t0, fired, timeout } = recorder();
  timeout.start(t0, 10_000);
  await sleep(5);
  timeout.start(performance.now(), 30);
  await sleep(200);
  t.equal(fired.length, 1, 'fired, long before the first 10 s');
  t.ok(fired[0]! < 150, `on time (${fired[0]!.toFixed(1)} ms)`);
  timeout.clear();
});

t.test('stop and clear: nothing fires', async (t) => {
  const a = recorder();
  a.timeout.start(performance.now(), 20);
  a.timeout.stop();
  t.notOk(a.timeout.running);
  const b = recorder();
  b.timeout.start(performance.now(), 20);
  b.timeout.clear();
  await sleep(100);
  t.same(a.fired, [], 'stopped');
  t.same(b.fired, [], 'cleared');
  // A stopped timeout starts again.
  a.timeout.start(performance.now(), 20);
  await sleep(100);
  t.equal(a.fired.length, 1, 'started again after stop');
});
