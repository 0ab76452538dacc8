/**
 * What a proxy process loads (see "Memory" in the README): undici's Pool without the rest of undici, prom-client
 * on the first scrape, find-my-way for the first table with path routes. Its own process (tap runs each file in
 * one), so the module cache shows exactly what the proxy pulled in.
 */
import { createRequire } from 'node:module';
import t from 'tap';
import { createProxy } from '../src/index.js';
import { POOL_MODULE } from '../src/upstream-pool.js';
import { table } from './helpers.js';

const require = createRequire(import.meta.url);
const loaded = (pattern: RegExp) => Object.keys(require.cache).filter((path) => pattern.test(path));

t.test('undici Pool only; prom-client and find-my-way when first needed', async (t) => {
  const proxy = createProxy({
    listen: '127.0.0.1:0',
    adminListen: 'off',
    routeTable: table({ 'a.local': { upstreams: ['http://127.0.0.1:1'] } }),
    metrics: { defaultMetrics: true },
  });
  t.teardown(() => proxy.close({ timeoutMs: 0 }));
  t.same(
    loaded(/[\\/]undici[\\/]index\.js$/),
    [],
    "undici's index (fetch, WebSocket, caches, mocks) is not loaded",
  );
  t.equal(loaded(/[\\/]undici[\\/]lib[\\/]dispatcher[\\/]pool\.js$/).length, 1, 'its Pool is');
  t.same(loaded(/[\\/]prom-client[\\/]/), [], 'no prom-client before a scrape');
  t.same(loaded(/[\\/]find-my-way[\\/]/), [], 'no find-my-way without path routes');

  proxy.setRouteTable(
    table({
      'a.local': {
        upstreams: ['http://127.0.0.1:1'],
        routes: [{ path: '/api/*', upstreams: ['http://127.0.0.1:2'] }],
      },
    }),
  );
  t.not(loaded(/[\\/]find-my-way[\\/]/).length, 0, 'find-my-way for the first path routes');

  const text = await proxy.metrics.registry.metrics();
  t.not(loaded(/[\\/]prom-client[\\/]/).length, 0, 'prom-client at the first scrape');
  t.match(
    text,
    /nodix_proxy_config_reloads_total\{result="success"\} 1/,
    'counted before prom-client was loaded',
  );
  t.match(text, /nodix_proxy_config_last_reload_success 1/);
  t.match(text, /process_cpu_user_seconds_total/, 'default process metrics from then on');
});

t.test(
  'the Pool module is the Pool undici exports (fails when undici moves it: update POOL_MODULE)',
  async (t) => {
    const fromProxy = createRequire(new URL('../src/upstream-pool.ts', import.meta.url));
    t.equal(fromProxy(POOL_MODULE), (fromProxy('undici') as typeof import('undici')).Pool);
  },
);
