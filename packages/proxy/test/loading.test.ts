/**
 * What a proxy process loads (see "Memory" in the README): no HTTP client library (upstream/client.ts is the
 * proxy's own), prom-client on the first scrape, find-my-way for the first table with path routes. Its own process (tap runs each file in
 * one), so the module cache shows exactly what the proxy pulled in.
 */
import { createRequire } from 'node:module';
import t from 'tap';
import { createProxy } from '../src/index.js';
import { table } from './helpers.js';

const require = createRequire(import.meta.url);
const loaded = (pattern: RegExp) => Object.keys(require.cache).filter((path) => pattern.test(path));

t.test('no undici; prom-client and find-my-way when first needed', async (t) => {
  const proxy = createProxy({
    listen: '127.0.0.1:0',
    adminListen: 'off',
    routeTable: table({ 'a.local': { upstreams: ['http://127.0.0.1:1'] } }),
    metrics: { defaultMetrics: true },
  });
  t.teardown(() => proxy.close({ timeoutMs: 0 }));
  t.same(loaded(/[\\/]undici[\\/]/), [], 'no undici module');
  t.same(loaded(/[\\/]http-proxy(-3)?[\\/]/), [], 'no http-proxy module');
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
