import t, { type Test } from 'tap';
import { ProxyMetrics } from '../../src/observe/metrics.js';
import {
  type BuildContext,
  buildRouteTable,
  retireRouteTable,
  upstreamOf,
} from '../../src/route-table/build.js';
import { validateRouteTable } from '../../src/route-table/validate.js';
import { UpstreamPools } from '../../src/upstream/pool.js';

function context(t: Test): BuildContext {
  const pools = new UpstreamPools({
    connectTimeoutMs: 100,
    headersTimeoutMs: 100,
    bodyTimeoutMs: 100,
    keepAliveTimeoutMs: 100,
    connections: 0,
  });
  t.teardown(() => pools.closeAll(true));
  return {
    pools,
    metrics: new ProxyMetrics({ defaultMetrics: false }),
    passive: { maxFails: 3, cooldownMs: 1000 },
    onUpstreamChange: () => {},
  };
}

const A = 'http://127.0.0.1:1';
const B = 'http://127.0.0.1:2';
const v = (hosts: object) => validateRouteTable({ version: 1, hosts }, 'test');

t.test(
  'unchanged hosts are kept as built; changed ones carry their upstream state; removed ones are retired',
  async (t) => {
    const ctx = context(t);
    const first = buildRouteTable(
      v({
        'a.local': { upstreams: [A] },
        'b.local': { upstreams: [A, B] },
        'gone.local': { upstreams: [B] },
      }),
      null,
      ctx,
    );
    t.equal(ctx.pools.size, 2);
    const aHost = first.byKey.get('a.local')!;
    const bUpstreamA = upstreamOf(first.byKey.get('b.local'), A)!;
    bUpstreamA.active = 4;
    bUpstreamA.fails = 2;
    const gone = upstreamOf(first.byKey.get('gone.local'), B)!;
    let stopped = false;
    gone.stopChecks = () => {
      stopped = true;
    };

    const second = buildRouteTable(
      v({ 'a.local': { upstreams: [A] }, 'b.local': { upstreams: [A], balance: 'least-conn' } }),
      first,
      ctx,
    );
    retireRouteTable(first, second, ctx);
    t.equal(second.byKey.get('a.local'), aHost, 'identical entry: the same built host');
    const bHost = second.byKey.get('b.local')!;
    t.not(bHost, first.byKey.get('b.local'), 'changed entry: rebuilt');
    t.equal(bHost.group.strategy, 'least-conn');
    t.equal(upstreamOf(bHost, A), bUpstreamA, 'its upstream keeps in-flight count and failures');
    t.equal(bUpstreamA.active, 4);
    t.equal(bUpstreamA.fails, 2);
    t.ok(stopped, "the removed host's health checks stopped");
    t.equal(ctx.pools.size, 1, "B's pool is released (closing after its in-flight requests)");
    t.same(second.origins, [A]);

    retireRouteTable(second, null, ctx);
    t.equal(ctx.pools.size, 0);
  },
);

t.test('wildcards and exact names land in their maps; path routes get a router', async (t) => {
  const ctx = context(t);
  const table = buildRouteTable(
    v({
      'Exact.Local.': { upstreams: [A] },
      '*.wild.local': { upstreams: [B] },
      'routed.local': { upstreams: [A], routes: [{ path: '/api/*', upstreams: [B] }] },
    }),
    null,
    ctx,
  );
  t.same([...table.exact.keys()], ['exact.local', 'routed.local']);
  t.same([...table.wildcards.keys()], ['wild.local']);
  t.equal(table.byKey.get('Exact.Local.')!.router, null, 'no path routes: no router on the request path');
  const routed = table.byKey.get('routed.local')!;
  t.equal(routed.router!.find('GET', '/api/x?y')!.store.upstreams[0]!.origin, B);
  t.equal(routed.router!.find('GET', '/other'), null);
  t.equal(routed.upstreams.length, 2, 'one Upstream per origin within a host');
  retireRouteTable(table, null, ctx);
});
