import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import t from 'tap';
import { createProxy, ProxyConfigError, RouteTableError } from '../../src/index.js';
import {
  ADMIN_POST,
  HEALTH_KEYS,
  request,
  scrape,
  sleep,
  startProxy,
  startUpstream,
  table,
  tempDir,
  waitFor,
} from '../helpers.js';

/** Writes the file the way the deployer does: a new file renamed over the old one (atomic). */
function writeAtomically(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, typeof value === 'string' ? value : JSON.stringify(value));
  renameSync(tmp, file);
}

t.test('createProxy checks its options', async (t) => {
  t.throws(() => createProxy({ listen: 'nope' }), ProxyConfigError);
  t.throws(() => createProxy({ listen: '127.0.0.1:0', adminListen: 'x:y' }), {
    code: 'NODIX_ERR_PROXY_CONFIG',
    message: /adminListen/,
  });
  t.throws(
    () => createProxy({ listen: '127.0.0.1:0', adminListen: null, timeouts: { headerMs: 0 } }),
    /timeouts\.headerMs must be an integer >= 1/,
  );
  t.throws(
    () => createProxy({ listen: '127.0.0.1:0', adminListen: null, timeouts: { nope: 1 } as never }),
    /unknown option timeouts\.nope/,
  );
  t.throws(
    () => createProxy({ listen: '127.0.0.1:0', adminListen: null, trustedProxies: ['10.0.0.0/33'] }),
    /trustedProxies/,
  );
  t.throws(
    () => createProxy({ listen: '127.0.0.1:0', adminListen: null, routeTable: { version: 2 } }),
    RouteTableError,
  );
  t.throws(
    () => createProxy({ listen: '127.0.0.1:0', adminListen: null, routes: '/nonexistent/routes.json' }),
    {
      code: 'NODIX_ERR_ROUTE_TABLE',
      file: '/nonexistent/routes.json',
    },
  );
});

t.test('listen resolves with the real ports; admin off; listen twice is an error', async (t) => {
  const { proxy, port, adminPort } = await startProxy(t, null);
  t.ok(port > 0);
  t.ok(adminPort! > 0);
  await t.rejects(proxy.listen(), { code: 'NODIX_ERR_PROXY_STATE' });
  const noAdmin = await startProxy(t, null, { adminListen: 'off' });
  t.equal(noAdmin.adminPort, null);
  t.equal(noAdmin.proxy.adminServer, null);
  t.equal((await request(noAdmin.port)).status, 404, 'no routes: every host is unknown');
});

t.test('setRouteTable swaps the table; an invalid one keeps the last good table serving', async (t) => {
  const a = await startUpstream(t, (_req, res) => res.end('a'));
  const b = await startUpstream(t, (_req, res) => res.end('b'));
  const { proxy, port, adminPort, logs } = await startProxy(
    t,
    table({ 'webapp1.local': { upstreams: [a.origin] } }),
  );
  t.equal((await request(port)).body, 'a');
  const result = proxy.setRouteTable(
    table({ 'webapp1.local': { upstreams: [b.origin] }, 'webapp2.local': { upstreams: [a.origin] } }),
  );
  t.same(result, { hosts: 2, source: 'setRouteTable()', changed: true });
  t.equal((await request(port)).body, 'b');
  t.equal((await request(port, { host: 'webapp2.local' })).body, 'a');

  t.throws(
    () => proxy.setRouteTable({ version: 1, hosts: { 'x.local': { upstreams: ['bad'] } } }, 'agent push'),
    {
      code: 'NODIX_ERR_ROUTE_TABLE',
      file: 'agent push',
      key: 'hosts["x.local"].upstreams[0]',
    },
  );
  t.equal((await request(port)).body, 'b', 'the last good table still serves');
  t.match(
    logs.join('\n'),
    /route table rejected, the last good one keeps serving: agent push: hosts\["x\.local"\]\.upstreams\[0\]: /,
  );
  const metrics = await scrape(adminPort!);
  t.match(metrics, /nodix_proxy_config_reloads_total\{result="success"\} 1/);
  t.match(metrics, /nodix_proxy_config_reloads_total\{result="failure"\} 1/);
  t.match(metrics, /nodix_proxy_config_last_reload_success 0/);
});

t.test(
  'the routes file is watched (atomic renames); a bad file is logged with file, key and reason',
  async (t) => {
    const a = await startUpstream(t, (_req, res) => res.end('a'));
    const b = await startUpstream(t, (_req, res) => res.end('b'));
    const dir = tempDir(t);
    const file = join(dir, 'routes.json');
    writeAtomically(file, table({ 'webapp1.local': { upstreams: [a.origin] } }));
    const { port, logs, adminPort } = await startProxy(t, null, { routes: file });
    t.equal((await request(port)).body, 'a');

    writeAtomically(file, table({ 'webapp1.local': { upstreams: [b.origin] } }));
    await waitFor(async () => (await request(port)).body === 'b', 5000, 'watched change applied');

    writeAtomically(file, {
      version: 1,
      hosts: { 'webapp1.local': { upstreams: [a.origin], balance: 'random' } },
    });
    await waitFor(() => logs.some((l) => l.includes('rejected')), 5000, 'rejection logged');
    t.match(
      logs.find((l) => l.includes('rejected')),
      new RegExp(
        `${file.replaceAll('/', '\\/')}: hosts\\["webapp1\\.local"\\]\\.balance: must be one of round-robin, least-conn, ip-hash \\(value was "random"\\)`,
      ),
    );
    t.equal((await request(port)).body, 'b', 'the last good table keeps serving');
    writeAtomically(file, '{ "version": 1, ');
    await waitFor(() => logs.filter((l) => l.includes('rejected')).length >= 2, 5000, 'broken JSON logged');
    t.match(logs.filter((l) => l.includes('rejected'))[1], /not valid JSON/);
    t.equal((await request(port)).body, 'b');
    t.match(await scrape(adminPort!), /nodix_proxy_config_last_reload_success 0/);

    // POST /reload: 422 while the file is bad, 200 once it is fixed.
    const bad = await fetch(`http://127.0.0.1:${adminPort}/reload`, ADMIN_POST);
    t.equal(bad.status, 422);
    t.match(((await bad.json()) as { error: string }).error, /not valid JSON/);
    writeFileSync(file, JSON.stringify(table({ 'webapp1.local': { upstreams: [a.origin] } })));
    const good = await fetch(`http://127.0.0.1:${adminPort}/reload`, ADMIN_POST);
    t.equal(good.status, 200);
    t.same(await good.json(), { ok: true, hosts: 1, source: file });
    t.equal((await request(port)).body, 'a');
    t.equal((await fetch(`http://127.0.0.1:${adminPort}/reload`)).status, 405, 'GET /reload is refused');
  },
);

t.test(
  'a bad routes file with the proxy log beside it is rejected once, not once per log line; a good rename is applied',
  async (t) => {
    const a = await startUpstream(t, (_req, res) => res.end('a'));
    const b = await startUpstream(t, (_req, res) => res.end('b'));
    const dir = tempDir(t);
    const file = join(dir, 'routes.json');
    const logFile = join(dir, 'proxy.log');
    writeAtomically(file, table({ 'webapp1.local': { upstreams: [a.origin] } }));
    const logs: string[] = [];
    // The proxy's own log in the routes file's directory: each line it writes is a change in that directory.
    const proxy = createProxy({
      listen: '127.0.0.1:0',
      adminListen: null,
      routes: file,
      metrics: { defaultMetrics: false },
      log: (line) => {
        logs.push(line);
        appendFileSync(logFile, `${line}\n`);
      },
    });
    t.teardown(() => proxy.close({ timeoutMs: 0 }));
    const { listen } = await proxy.listen();
    const failures = async () =>
      Number(
        /nodix_proxy_config_reloads_total\{result="failure"\} (\d+)/.exec(
          await proxy.metrics.registry.metrics(),
        )![1],
      );

    writeAtomically(file, '{ "version": 1, ');
    await waitFor(() => logs.some((l) => l.includes('rejected')), 5000, 'rejection logged');
    // Writes to another file of the directory, for a while: none of them is a change of the routes file.
    for (let i = 0; i < 20; i++) {
      appendFileSync(join(dir, 'other.txt'), `line ${i}\n`);
      await sleep(25);
    }
    await sleep(200);
    t.equal(logs.filter((l) => l.includes('rejected')).length, 1, 'rejected (and logged) once');
    t.equal(await failures(), 1, 'counted once');
    // The same bad content written again (a new inode, same text): not parsed nor counted again.
    writeAtomically(file, '{ "version": 1, ');
    await sleep(300);
    t.equal(await failures(), 1, 'same text again: not counted');

    writeAtomically(file, table({ 'webapp1.local': { upstreams: [b.origin] } }));
    await waitFor(async () => (await request(listen.port)).body === 'b', 5000, 'atomic rename applied');
    t.equal(await failures(), 1);
  },
);

t.test(
  'reload() rereads the file; in-flight requests finish on the old table; removed upstreams drain',
  async (t) => {
    let release: () => void = () => {};
    const a = await startUpstream(t, (req, res) => {
      if (req.url === '/slow') {
        release = () => res.end('a-slow');
        return;
      }
      res.end('a');
    });
    const b = await startUpstream(t, (_req, res) => res.end('b'));
    const dir = tempDir(t);
    const file = join(dir, 'routes.json');
    writeFileSync(file, JSON.stringify(table({ 'old.local': { upstreams: [a.origin] } })));
    const { proxy, port } = await startProxy(t, null, { routes: file, watch: false });
    const slow = request(port, { host: 'old.local', path: '/slow' });
    await waitFor(() => a.requests.length === 1, 3000, 'slow request at the upstream');

    writeFileSync(file, JSON.stringify(table({ 'new.local': { upstreams: [b.origin] } })));
    t.same(await proxy.reload(), { hosts: 1, source: file, changed: true });
    t.equal((await request(port, { host: 'old.local' })).status, 404, 'new requests see the new table');
    t.equal((await request(port, { host: 'new.local' })).body, 'b');
    t.equal(proxy.stats().pools, 1, "the removed upstream's pool left the registry");
    t.equal(a.sockets.size, 1, 'but its connection is still open for the in-flight request');
    release();
    const res = await slow;
    t.equal(res.status, 200);
    t.equal(res.body, 'a-slow', 'the in-flight request finished on the old table');
    await waitFor(() => a.sockets.size === 0, 3000, 'drained pool closed its connection');

    writeFileSync(file, '{');
    await t.rejects(proxy.reload(), { code: 'NODIX_ERR_ROUTE_TABLE', file });
    const noFile = await startProxy(t, null);
    await t.rejects(noFile.proxy.reload(), { code: 'NODIX_ERR_PROXY_STATE' });
  },
);

t.test('reloads every 50 ms under a bounded load: zero failed requests', async (t) => {
  const a = await startUpstream(t, (_req, res) => res.end('a'));
  const b = await startUpstream(t, (_req, res) => res.end('b'));
  const dir = tempDir(t);
  const file = join(dir, 'routes.json');
  const tables = [
    table({ 'webapp1.local': { upstreams: [a.origin] }, 'other.local': { upstreams: [b.origin] } }),
    table({ 'webapp1.local': { upstreams: [a.origin, b.origin], balance: 'least-conn' } }),
    table({ 'webapp1.local': { upstreams: [b.origin] }, 'third.local': { upstreams: [a.origin] } }),
  ];
  writeAtomically(file, tables[0]);
  const { proxy, port } = await startProxy(t, null, { routes: file });
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  t.teardown(() => agent.destroy());

  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  const worker = async () => {
    while (!stop) {
      try {
        const res = await request(port, { agent });
        if (res.status === 200 && (res.body === 'a' || res.body === 'b')) ok++;
        else failures.push(`${res.status} ${res.body.slice(0, 60)}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  const workers = Array.from({ length: 8 }, worker);
  let reloads = 0;
  for (let i = 0; i < 40; i++) {
    await sleep(50);
    // Alternate the two ways in: the watched file and the library call.
    if (i % 2 === 0) writeAtomically(file, tables[i % 3]);
    else proxy.setRouteTable(tables[i % 3]);
    reloads++;
  }
  stop = true;
  await Promise.all(workers);
  t.equal(reloads, 40);
  t.same(failures, [], 'no request failed');
  t.ok(ok > 100, `${ok} requests answered during the reloads`);
});

t.test('a 10 000-host table builds and routes every host', async (t) => {
  const up = await startUpstream(t, (req, res) => res.end(req.headers.host));
  const hosts: Record<string, { upstreams: string[] }> = {};
  for (let i = 0; i < 10_000; i++) hosts[`app${i}.example.org`] = { upstreams: [up.origin] };
  hosts['*.wild.example.org'] = { upstreams: [up.origin] };
  const { proxy, port } = await startProxy(t, table({}));
  // How fast it builds is the proxy-10k-hosts and proxy-reload benchmarks' business, not a timed assertion here.
  proxy.setRouteTable(table(hosts));
  t.equal(proxy.stats().hosts, 10_001);
  t.equal(proxy.stats().pools, 1, 'one pool for the one origin');
  for (const i of [0, 1, 4999, 9999])
    t.equal((await request(port, { host: `APP${i}.example.org` })).body, `APP${i}.example.org`);
  t.equal((await request(port, { host: 'x.wild.example.org' })).status, 200);
  t.equal((await request(port, { host: 'app10000.example.org' })).status, 404);
  proxy.setRouteTable(table(hosts));
  t.equal(proxy.stats().hosts, 10_001, 'a reload of the same table keeps every host');
});

t.test('graceful close: in-flight requests finish, new connections are refused, pools close', async (t) => {
  let release: () => void = () => {};
  const up = await startUpstream(t, (req, res) => {
    if (req.url === '/slow') {
      release = () => res.end('done');
      return;
    }
    res.end('ok');
  });
  const { proxy, port, adminPort } = await startProxy(
    t,
    table({ 'webapp1.local': { upstreams: [up.origin] } }),
  );
  const slow = request(port, { path: '/slow' });
  await waitFor(() => up.requests.length === 1, 3000, 'slow request at the upstream');
  const closed = proxy.close({ timeoutMs: 5000 });
  await sleep(50);
  await t.rejects(request(port), /ECONNREFUSED/, 'no new connections');
  const draining = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
  t.equal(draining.status, 503, 'the admin listener stays up while draining and says so');
  t.match(await draining.json(), { status: 'draining', inFlight: 1 });
  release();
  const res = await slow;
  t.equal(res.body, 'done');
  t.equal(res.headers.connection, 'close', 'the drained response tells the client to close');
  await closed;
  t.equal(proxy.stats().inFlight, 0);
  await t.rejects(fetch(`http://127.0.0.1:${adminPort}/healthz`), 'the admin listener closed at the end');
  await waitFor(() => up.sockets.size === 0, 3000, 'upstream connections closed');
});

t.test('close() cuts requests still running at the deadline', async (t) => {
  const up = await startUpstream(t, () => {});
  const { proxy, port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const stuck = request(port).catch((err: Error) => err);
  await waitFor(() => up.requests.length === 1, 3000, 'request at the upstream');
  const started = Date.now();
  await proxy.close({ timeoutMs: 200 });
  t.ok(Date.now() - started < 2000, 'close respected its deadline');
  t.type(await stuck, Error, 'the stuck request was cut');
  await waitFor(() => up.sockets.size === 0, 3000, 'upstream connection closed');
});

t.test('admin endpoints: /healthz, /route-table, unknown paths', async (t) => {
  const up = await startUpstream(t);
  const routes = table({ 'webapp1.local': { upstreams: [up.origin] } });
  const { adminPort } = await startProxy(t, routes);
  const health = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
  t.equal(health.status, 200);
  const report = (await health.json()) as Record<string, unknown>;
  t.same(Object.keys(report).sort(), HEALTH_KEYS, '/healthz: the same keys as with several workers');
  t.match(report, { status: 'ok', workers: 1, hosts: 1, inFlight: 0 });
  t.same(await (await fetch(`http://127.0.0.1:${adminPort}/route-table`)).json(), routes);
  t.equal((await fetch(`http://127.0.0.1:${adminPort}/nope`)).status, 404);
});

t.test('max connections: connections beyond the limit are refused', async (t) => {
  const up = await startUpstream(t, (_req, res) => res.end('ok'));
  const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }), {
    limits: { maxConnections: 2 },
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  t.teardown(() => agent.destroy());
  // Two kept-alive connections occupy the limit...
  const both = await Promise.all([request(port, { agent }), request(port, { agent })]);
  t.same(
    both.map((r) => r.body),
    ['ok', 'ok'],
  );
  // ...so a third is closed by the server without an answer.
  await t.rejects(request(port), /socket hang up|ECONNRESET/);
  agent.destroy();
  await waitFor(
    async () => (await request(port).catch(() => null))?.body === 'ok',
    3000,
    'served again once they closed',
  );
});
