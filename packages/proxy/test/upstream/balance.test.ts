import t, { type Test } from 'tap';
import { createUpstreamGroup } from '../../src/upstream/balance.js';
import { Upstream, UpstreamPools } from '../../src/upstream/pool.js';
import { request, startProxy, startUpstream, table } from '../helpers.js';

function upstreams(t: Test, n: number): Upstream[] {
  const pools = new UpstreamPools({
    connectTimeoutMs: 1000,
    headersTimeoutMs: 1000,
    bodyTimeoutMs: 1000,
    keepAliveTimeoutMs: 1000,
    connections: 0,
  });
  t.teardown(() => pools.closeAll(true));
  return Array.from({ length: n }, (_, i) => {
    const origin = `http://127.0.0.1:${10_000 + i}`;
    return new Upstream('h', origin, pools.acquire(origin), { maxFails: 2, cooldownMs: 60_000 });
  });
}

t.test('round-robin cycles and skips unavailable upstreams', async (t) => {
  const [a, b, c] = upstreams(t, 3) as [Upstream, Upstream, Upstream];
  const group = createUpstreamGroup([a, b, c], 'round-robin', 'h');
  t.same(
    [1, 2, 3, 4, 5, 6].map(() => group.pick('1.2.3.4', null)),
    [a, b, c, a, b, c],
  );
  b.checkHealthy = false;
  t.same(
    [1, 2, 3, 4].map(() => group.pick('1.2.3.4', null)),
    [a, c, a, c],
  );
  t.equal(group.pick('x', a), c, 'exclude skips the upstream that just failed');
  a.checkHealthy = false;
  c.checkHealthy = false;
  t.equal(group.pick('x', null), null, 'none available');
});

t.test('least-conn picks the fewest in-flight requests, rotating ties', async (t) => {
  const [a, b, c] = upstreams(t, 3) as [Upstream, Upstream, Upstream];
  const group = createUpstreamGroup([a, b, c], 'least-conn', 'h');
  a.active = 5;
  b.active = 1;
  c.active = 3;
  t.equal(group.pick('x', null), b);
  b.active = 9;
  t.equal(group.pick('x', null), c);
  a.active = b.active = c.active = 0;
  const picks = new Set([1, 2, 3].map(() => group.pick('x', null)));
  t.equal(picks.size, 3, 'ties rotate instead of piling onto the first');
});

t.test('ip-hash keeps a client on one upstream and moves it only when that one is down', async (t) => {
  const list = upstreams(t, 4);
  const group = createUpstreamGroup(list, 'ip-hash', 'h');
  const first = group.pick('10.1.2.3', null)!;
  for (let i = 0; i < 10; i++) t.equal(group.pick('10.1.2.3', null), first);
  const spread = new Set(Array.from({ length: 64 }, (_, i) => group.pick(`10.0.0.${i}`, null)));
  t.ok(spread.size >= 3, 'different clients spread over the upstreams');
  first.checkHealthy = false;
  const moved = group.pick('10.1.2.3', null)!;
  t.not(moved, first);
  t.equal(group.pick('10.1.2.3', null), moved, 'and stays on the next one');
});

t.test('a single upstream: available or null', async (t) => {
  const [a] = upstreams(t, 1) as [Upstream];
  const group = createUpstreamGroup([a], 'ip-hash', 'h');
  t.equal(group.pick('x', null), a);
  t.equal(group.pick('x', a), null);
  t.throws(() => createUpstreamGroup([], 'round-robin', 'h'), TypeError);
});

t.test('passive health: failed connects put an upstream in cooldown, half-open afterwards', async (t) => {
  const [a] = upstreams(t, 1) as [Upstream];
  a.cooldownMs = 50;
  const changes: string[] = [];
  a.onChange = (_u, up, why) => changes.push(`${up ? 'up' : 'down'}: ${why}`);
  a.connectFailed();
  t.ok(a.available(), 'one failure of two: still in');
  a.connectFailed();
  t.notOk(a.available(), 'two failures: skipped');
  t.notOk(a.up);
  await new Promise((resolve) => setTimeout(resolve, 60));
  t.ok(a.available(), 'cooldown over');
  a.connectFailed();
  t.notOk(a.available(), 'half-open: one more failure puts it back');
  a.answered();
  t.equal(a.fails, 0);
  t.match(changes.join('\n'), /down: 2 failed connects in a row[\s\S]*up: cooldown over[\s\S]*down:/);
});

t.test('through the proxy: round-robin over two upstreams, least-conn avoids a busy one', async (t) => {
  let release: () => void = () => {};
  const a = await startUpstream(t, (req, res) => {
    if (req.url === '/slow') {
      release = () => res.end('a-slow');
      return;
    }
    res.end('a');
  });
  const b = await startUpstream(t, (_req, res) => res.end('b'));
  const { port } = await startProxy(
    t,
    table({
      'rr.local': { upstreams: [a.origin, b.origin] },
      'lc.local': { upstreams: [a.origin, b.origin], balance: 'least-conn' },
      'ip.local': { upstreams: [a.origin, b.origin], balance: 'ip-hash' },
    }),
  );
  const rr = [];
  for (let i = 0; i < 4; i++) rr.push((await request(port, { host: 'rr.local' })).body);
  t.same(rr.sort(), ['a', 'a', 'b', 'b']);

  // Hold a request on `a` (the first least-conn pick), then every other request goes to b.
  const slow = request(port, { host: 'lc.local', path: '/slow' });
  await new Promise((resolve) => setTimeout(resolve, 100));
  for (let i = 0; i < 3; i++) t.equal((await request(port, { host: 'lc.local' })).body, 'b');
  release();
  t.equal((await slow).body, 'a-slow');

  const sticky = new Set<string>();
  for (let i = 0; i < 4; i++) sticky.add((await request(port, { host: 'ip.local' })).body);
  t.equal(sticky.size, 1, 'ip-hash: one client, one upstream');
});
