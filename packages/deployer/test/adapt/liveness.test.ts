import t from 'tap';
import {
  type Health,
  INITIAL_LIVENESS,
  LivenessTracker,
  liveSetChange,
  observeProbe,
} from '../../src/adapt/liveness.js';

/** Feeds a probe history ('+' answered, '-' failed) to one target and returns its health after each probe. */
function healths(history: string, downAfter: number, upAfter: number): Health[] {
  let state = INITIAL_LIVENESS;
  return [...history].map((result) => {
    state = observeProbe(state, result === '+', { downAfter, upAfter });
    return state.health;
  });
}

const U = 'unknown';
const table: Array<[string, string, number, number, Health[]]> = [
  ['one good probe decides an unknown target up', '+', 3, 3, ['up']],
  ['an unknown target goes down only after N failures', '---', 3, 3, [U, U, 'down']],
  ['one lost packet moves nothing', '+-+', 3, 3, ['up', 'up', 'up']],
  [
    'N-1 failures, then an answer, then N-1 again: still up',
    '+--+--',
    3,
    3,
    ['up', 'up', 'up', 'up', 'up', 'up'],
  ],
  ['N failures in a row: gone', '+---', 3, 3, ['up', 'up', 'up', 'down']],
  ['down-after 1: the first failure counts', '+-', 1, 3, ['up', 'down']],
  ['back only after M good probes in a row', '+--++', 2, 2, ['up', 'up', 'down', 'down', 'up']],
  [
    'a failure among the good ones starts the count again',
    '+--+-++',
    2,
    2,
    ['up', 'up', 'down', 'down', 'down', 'down', 'up'],
  ],
  ['up-after 1: one answer brings it back', '+-+', 1, 1, ['up', 'down', 'up']],
];
for (const [name, history, downAfter, upAfter, expected] of table) {
  t.same(
    healths(history, downAfter, upAfter),
    expected,
    `${name} (${history}, N=${downAfter}, M=${upAfter})`,
  );
}

t.test('the tracker decides only when no target is unknown, and reports the live set', async (t) => {
  const tracker = new LivenessTracker(['test1', 'test2'], { downAfter: 2, upAfter: 2 });
  tracker.observe('test1', true);
  tracker.observe('test2', false);
  t.notOk(tracker.decided(), 'test2 is not decided after one failure');
  tracker.observe('test2', false);
  t.ok(tracker.decided());
  t.same([...tracker.live()], ['test1']);
  const { before, after } = tracker.observe('test2', true);
  t.same([before.health, after.health, after.streak], ['down', 'down', 1], 'the transition is reported');
});

t.test('liveSetChange: lost and returned targets, in natural order', async (t) => {
  t.same(liveSetChange(new Set(['test10', 'test2', 'test1']), new Set(['test1', 'test3'])), {
    lost: ['test2', 'test10'],
    returned: ['test3'],
  });
  t.same(liveSetChange(new Set(['a']), new Set(['a'])), { lost: [], returned: [] });
});
