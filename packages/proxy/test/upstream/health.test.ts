import t from 'tap';
import { request, scrape, startProxy, startUpstream, table, waitFor } from '../helpers.js';

t.test('active checks take a failing upstream out and put it back when it recovers', async (t) => {
  let healthy = true;
  const checks: string[] = [];
  const a = await startUpstream(t, (req, res) => {
    if (req.url === '/healthz') {
      checks.push(String(req.headers.host));
      res.writeHead(healthy ? 200 : 500);
      return res.end();
    }
    res.end('a');
  });
  const b = await startUpstream(t, (req, res) => res.end(req.url === '/healthz' ? 'ok' : 'b'));
  const { port, adminPort, logs } = await startProxy(
    t,
    table({
      'webapp1.local': {
        upstreams: [a.origin, b.origin],
        health: { path: '/healthz', intervalMs: 100, timeoutMs: 500 },
      },
    }),
  );
  await waitFor(() => checks.length > 0, 3000, 'first check');
  t.equal(checks[0], 'webapp1.local', 'checks carry the virtual host name as Host');

  healthy = false;
  await waitFor(
    async () =>
      /upstream_up\{host="webapp1.local",upstream="http:\/\/127\.0\.0\.1:\d+"\} 0/.test(
        await scrape(adminPort!),
      ),
    3000,
    'a marked down',
  );
  const answers = new Set<string>();
  for (let i = 0; i < 6; i++) answers.add((await request(port)).body);
  t.same([...answers], ['b'], 'only the healthy upstream gets traffic');
  t.match(
    logs.join('\n'),
    /upstream http:\/\/127\.0\.0\.1:\d+ of webapp1\.local is down: active check \/healthz answered 500/,
  );

  healthy = true;
  await waitFor(async () => !/upstream_up\{[^}]*\} 0/.test(await scrape(adminPort!)), 3000, 'a back up');
  const after = new Set<string>();
  for (let i = 0; i < 6; i++) after.add((await request(port)).body);
  t.same([...after].sort(), ['a', 'b']);
});

t.test('a check that times out marks the upstream down; every upstream down is 503', async (t) => {
  const a = await startUpstream(t, (req, res) => {
    if (req.url === '/healthz') return; // never answers
    res.end('a');
  });
  const { port } = await startProxy(
    t,
    table({
      'webapp1.local': {
        upstreams: [a.origin],
        health: { path: '/healthz', intervalMs: 100, timeoutMs: 100 },
      },
    }),
  );
  await waitFor(async () => (await request(port)).status === 503, 3000, '503');
  const res = await request(port);
  t.equal(res.status, 503);
  t.match(res.body, /no healthy instance/);
});

t.test(
  'passive health: an upstream refusing connections is skipped, requests go elsewhere without failing',
  async (t) => {
    const dead = await startUpstream(t);
    await dead.close();
    const live = await startUpstream(t, (_req, res) => res.end('live'));
    const { port, adminPort } = await startProxy(
      t,
      table({
        'webapp1.local': {
          upstreams: [dead.origin, live.origin],
          health: { maxFails: 2, cooldownMs: 60_000 },
        },
      }),
    );
    for (let i = 0; i < 8; i++) {
      const res = await request(port);
      t.equal(res.status, 200, `request ${i}: a failed connect is retried on the other upstream`);
      t.equal(res.body, 'live');
    }
    t.match(
      await scrape(adminPort!),
      new RegExp(`upstream_up\\{host="webapp1.local",upstream="${dead.origin}"\\} 0`),
    );

    const only = await startProxy(
      t,
      table({ 'solo.local': { upstreams: [dead.origin], health: { maxFails: 2 } } }),
    );
    t.equal((await request(only.port, { host: 'solo.local' })).status, 502);
    t.equal((await request(only.port, { host: 'solo.local' })).status, 502);
    t.equal(
      (await request(only.port, { host: 'solo.local' })).status,
      503,
      'after maxFails: no healthy upstream',
    );
  },
);
