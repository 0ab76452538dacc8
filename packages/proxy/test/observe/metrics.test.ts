import t from 'tap';
import { DURATION_BUCKETS, HostStats, ProxyMetrics } from '../../src/observe/metrics.js';
import { request, scrape, startProxy, startUpstream, table } from '../helpers.js';

t.test(
  'the metric names and labels the issue lists, with _unknown and default process metrics',
  async (t) => {
    const up = await startUpstream(t, (_req, res) => res.end('ok'));
    const { port, adminPort, proxy } = await startProxy(
      t,
      table({ 'webapp1.local': { upstreams: [up.origin] }, '*.example.org': { upstreams: [up.origin] } }),
      { metrics: { defaultMetrics: true } },
    );
    await request(port);
    await request(port, { method: 'POST', body: 'x' });
    await request(port, { host: 'a.example.org' });
    await request(port, { host: 'b.example.org' });
    await request(port, { host: 'nope.local' });
    await request(port, { host: 'a..b' });
    const text = await scrape(adminPort!);
    t.match(text, /# TYPE nodix_proxy_requests_total counter/);
    t.match(text, /nodix_proxy_requests_total\{host="webapp1\.local",method="GET",code="200"\} 1/);
    t.match(text, /nodix_proxy_requests_total\{host="webapp1\.local",method="POST",code="200"\} 1/);
    t.match(
      text,
      /nodix_proxy_requests_total\{host="\*\.example\.org",method="GET",code="200"\} 2/,
      'wildcards count under their key',
    );
    t.match(text, /nodix_proxy_requests_total\{host="_unknown",method="GET",code="404"\} 1/);
    t.match(text, /nodix_proxy_requests_total\{host="_unknown",method="GET",code="400"\} 1/);
    t.match(text, /# TYPE nodix_proxy_request_duration_seconds histogram/);
    t.match(text, /nodix_proxy_request_duration_seconds_bucket\{host="webapp1\.local",le="\+Inf"\} 2/);
    t.match(text, /nodix_proxy_request_duration_seconds_count\{host="webapp1\.local"\} 2/);
    t.match(text, /nodix_proxy_request_duration_seconds_sum\{host="webapp1\.local"\} [\d.e-]+/);
    t.match(
      text,
      new RegExp(`nodix_proxy_upstream_up\\{host="webapp1\\.local",upstream="${up.origin}"\\} 1`),
    );
    t.match(text, /# TYPE nodix_proxy_open_connections gauge\nnodix_proxy_open_connections \d+/);
    t.match(text, /nodix_proxy_config_reloads_total\{result="success"\} 0/);
    t.match(text, /nodix_proxy_config_reloads_total\{result="failure"\} 0/);
    t.match(text, /nodix_proxy_config_last_reload_success 1/);
    t.match(text, /process_cpu_user_seconds_total/, 'default process metrics');
    t.match(text, /nodejs_eventloop_lag_seconds/);

    // A removed host's series disappear; a kept host's counts survive the reload.
    proxy.setRouteTable(table({ 'webapp1.local': { upstreams: [up.origin] } }));
    const after = await scrape(adminPort!);
    t.notMatch(after, /example\.org/);
    t.match(after, /nodix_proxy_requests_total\{host="webapp1\.local",method="GET",code="200"\} 1/);
    t.match(after, /nodix_proxy_config_reloads_total\{result="success"\} 1/);
  },
);

t.test('open connections and 499 for clients that leave early', async (t) => {
  const up = await startUpstream(t, () => {});
  const { port, adminPort, proxy } = await startProxy(
    t,
    table({ 'webapp1.local': { upstreams: [up.origin] } }),
  );
  const pending = request(port, { timeoutMs: 200 }).catch(() => 'timed out');
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.match(await scrape(adminPort!), /nodix_proxy_open_connections 1/);
  t.equal(await pending, 'timed out');
  await new Promise((resolve) => setTimeout(resolve, 100));
  const text = await scrape(adminPort!);
  t.match(text, /nodix_proxy_requests_total\{host="webapp1\.local",method="GET",code="499"\} 1/);
  t.match(text, /nodix_proxy_open_connections 0/);
  t.equal(proxy.stats().inFlight, 0);
});

t.test('HostStats: counts by method and status, cumulative buckets', async (t) => {
  const stats = new HostStats();
  stats.record('GET', 200, 0.0001);
  stats.record('GET', 200, 0.003);
  stats.record('BREW', 418, 100);
  t.equal(stats.count, 3);
  t.equal(stats.buckets[0], 1);
  t.equal(stats.buckets[DURATION_BUCKETS.indexOf(0.005)], 1);
  t.equal(stats.buckets[DURATION_BUCKETS.length], 1, 'above the last bound: +Inf');
  const metrics = new ProxyMetrics({ defaultMetrics: false });
  const host = metrics.statsFor('a.local');
  host.record('GET', 200, 0.001);
  host.record('BREW', 418, 0.001);
  const text = await metrics.registry.metrics();
  t.match(
    text,
    /nodix_proxy_requests_total\{host="a\.local",method="OTHER",code="418"\} 1/,
    'unknown methods share OTHER',
  );
  metrics.retainHosts(new Set());
  t.notMatch(await metrics.registry.metrics(), /a\.local/);
});
