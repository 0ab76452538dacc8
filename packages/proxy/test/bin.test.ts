/**
 * The built `nodix-proxy` bin as real child processes (run `tsc -b packages/proxy` first: the bin imports dist/).
 */
import { once } from 'node:events';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { ready, run, writeAtomically } from './child.js';
import { request, sleep, startUpstream, table, tempDir, waitFor } from './helpers.js';

t.test(
  'ready line with the real ports; routes; SIGTERM drains the in-flight request and exits 0',
  async (t) => {
    let release: () => void = () => {};
    const up = await startUpstream(t, (req, res) => {
      if (req.url === '/slow') {
        release = () => res.end('slow done');
        return;
      }
      res.end('hello');
    });
    const dir = tempDir(t);
    const routes = join(dir, 'routes.json');
    writeAtomically(routes, table({ 'webapp1.local': { upstreams: [up.origin] } }));
    const r = run(t, ['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--routes', routes]);
    const { port, adminPort } = await ready(r);
    t.ok(port > 0 && adminPort! > 0);
    t.equal((await request(port)).body, 'hello');
    t.equal((await fetch(`http://127.0.0.1:${adminPort}/healthz`)).status, 200);

    const slow = request(port, { path: '/slow' });
    await waitFor(() => up.requests.length === 2, 3000, 'slow request at the upstream');
    r.child.kill('SIGTERM');
    await sleep(100);
    t.equal(r.child.exitCode, null, 'still draining');
    release();
    t.equal((await slow).body, 'slow done');
    t.equal(await r.exit, 0);
    t.match(r.stderr(), /shutting down/);
    t.notMatch(r.stderr(), /Error|bug/);
  },
);

t.test('SIGHUP reloads the routes file; the watcher picks up atomic renames; admin off', async (t) => {
  const a = await startUpstream(t, (_req, res) => res.end('a'));
  const b = await startUpstream(t, (_req, res) => res.end('b'));
  const dir = tempDir(t);
  const routes = join(dir, 'routes.json');
  writeAtomically(routes, table({ 'webapp1.local': { upstreams: [a.origin] } }));
  const manual = run(t, [
    '--listen',
    '127.0.0.1:0',
    '--admin-listen',
    'off',
    '--routes',
    routes,
    '--watch',
    'false',
  ]);
  const { port, adminPort } = await ready(manual);
  t.equal(adminPort, null);
  t.match(manual.stdout(), /\(admin off\)/);
  writeAtomically(routes, table({ 'webapp1.local': { upstreams: [b.origin] } }));
  await sleep(300);
  t.equal((await request(port)).body, 'a', 'not watched: unchanged until SIGHUP');
  manual.child.kill('SIGHUP');
  await waitFor(async () => (await request(port)).body === 'b', 5000, 'SIGHUP reload');
  writeAtomically(routes, { version: 1, hosts: { 'webapp1.local': { upstreams: ['nope'] } } });
  manual.child.kill('SIGHUP');
  await waitFor(() => /rejected/.test(manual.stderr()), 5000, 'rejection logged');
  t.match(
    manual.stderr(),
    new RegExp(`${routes}: hosts\\["webapp1\\.local"\\]\\.upstreams\\[0\\]: must be an absolute URL`),
  );
  t.equal((await request(port)).body, 'b', 'the last good table keeps serving');
  manual.child.kill('SIGINT');
  t.equal(await manual.exit, 0);

  writeAtomically(routes, table({ 'webapp1.local': { upstreams: [a.origin] } }));
  const watched = run(t, ['--listen', '127.0.0.1:0', '--admin-listen', 'off', '--routes', routes]);
  const w = await ready(watched);
  t.equal((await request(w.port)).body, 'a');
  writeAtomically(routes, table({ 'webapp1.local': { upstreams: [b.origin] } }));
  await waitFor(async () => (await request(w.port)).body === 'b', 5000, 'watched reload');
  watched.child.kill('SIGTERM');
  t.equal(await watched.exit, 0);
});

t.test('user mistakes: one line on stderr, exit 2, no stack trace', async (t) => {
  const dir = tempDir(t);
  const badRoutes = join(dir, 'routes.json');
  writeFileSync(
    badRoutes,
    JSON.stringify({ version: 1, hosts: { 'a..b': { upstreams: ['http://127.0.0.1:1'] } } }),
  );
  // One of each kind (flag, value, routes file); config.test.ts has the full table of values.
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [
      ['--header-timeout', '-5'],
      {},
      /^nodix-proxy: invalid configuration: timeouts\.header: is out of range: .*\(value was -5\)$/m,
    ],
    [['--workers', '-3'], {}, /^nodix-proxy: invalid configuration: workers: is out of range/],
    [['--listen', '127.0.0.1:0', '--lisen', 'x'], {}, /^nodix-proxy: Unknown option '--lisen'/],
    [
      [],
      { NODIX_PROXY_MAX_CONNECTIONS: 'lots' },
      /^nodix-proxy: invalid configuration: limits\.maxConnections: .*"lots"/,
    ],
    [
      ['--routes', badRoutes, '--admin-listen', 'off'],
      {},
      /routes\.json: hosts\["a\.\.b"\]: must be a host name/,
    ],
  ];
  for (const [args, env, message] of cases) {
    const r = run(t, args, env);
    t.equal(await r.exit, 2, args.join(' '));
    t.match(r.stderr(), message);
    t.equal(r.stderr().trim().split('\n').length, 1, 'one line');
    t.equal(r.stdout(), '');
  }
  const help = run(t, ['--help']);
  t.equal(await help.exit, 0);
  t.match(help.stdout(), /Usage: nodix-proxy/);
  for (const flag of [
    '--listen',
    '--admin-listen',
    '--routes',
    '--workers',
    '--header-timeout',
    '--max-header-size',
    '--trusted-proxies',
    '--access-log',
    '--acme-dir',
    '--acme-directory',
    '--acme-email',
    '--acme-ca',
    '--acme-renew-days',
    '--config',
  ]) {
    t.match(help.stdout(), flag);
  }
});

t.test('--access-log - writes to standard output (not to a file named true)', async (t) => {
  const up = await startUpstream(t, (_req, res) => res.end('ok'));
  const dir = tempDir(t);
  const routes = join(dir, 'routes.json');
  writeAtomically(routes, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const r = run(
    t,
    ['--access-log', '-', '--listen', '127.0.0.1:0', '--admin-listen', 'off', '--routes', routes],
    {},
    dir,
  );
  const { port } = await ready(r);
  await request(port, { path: '/dash' });
  await waitFor(() => r.stdout().includes('"GET /dash HTTP/1.1" 200'), 3000, 'access log line on stdout');
  r.child.kill('SIGTERM');
  t.equal(await r.exit, 0);
  t.same(readdirSync(dir), ['routes.json'], 'no file named true (or anything else) was created');
});

t.test('a port in use: exit 1 with the reason', async (t) => {
  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  t.teardown(() => new Promise((resolve) => blocker.close(resolve)));
  const busy = (blocker.address() as { port: number }).port;
  const r = run(t, ['--listen', `127.0.0.1:${busy}`, '--admin-listen', 'off']);
  t.equal(await r.exit, 1);
  t.match(r.stderr(), /^nodix-proxy: cannot listen: EADDRINUSE/);
});

t.test('--config file and the access log', async (t) => {
  const up = await startUpstream(t, (_req, res) => res.end('ok'));
  const dir = tempDir(t);
  const routes = join(dir, 'routes.json');
  writeAtomically(routes, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const config = join(dir, 'proxy.json');
  writeFileSync(
    config,
    JSON.stringify({ listen: '127.0.0.1:0', adminListen: 'off', routes, accessLog: '-' }),
  );
  const r = run(t, ['--config', config]);
  const { port } = await ready(r);
  await request(port, { path: '/logged?x=1' });
  await waitFor(() => r.stdout().includes('/logged'), 3000, 'access log line');
  t.match(
    r.stdout(),
    /127\.0\.0\.1 - - \[[^\]]+\] "GET \/logged\?x=1 HTTP\/1\.1" 200 webapp1\.local http:\/\/127\.0\.0\.1:\d+ [\d.]+ms [0-9a-f]{8}-[0-9a-z]+\n/,
  );
  r.child.kill('SIGTERM');
  t.equal(await r.exit, 0);
});

t.test('--version and -v print the package version alone, as nodix --version does', async (t) => {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  for (const flag of ['--version', '-v']) {
    const r = run(t, [flag]);
    t.equal(await r.exit, 0);
    t.equal(r.stdout(), `${version}\n`);
    t.equal(r.stderr(), '');
  }
});

t.test('--check: the settings and routes file checked, one summary line, no port opened', async (t) => {
  // Both ports the settings name are taken: a proxy that tried to listen would fail with EADDRINUSE.
  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  const adminBlocker = createServer();
  adminBlocker.listen(0, '127.0.0.1');
  await once(adminBlocker, 'listening');
  t.teardown(() => {
    blocker.close();
    adminBlocker.close();
  });
  const busy = (blocker.address() as { port: number }).port;
  const adminBusy = (adminBlocker.address() as { port: number }).port;
  const dir = tempDir(t);
  const routes = join(dir, 'routes.json');
  writeAtomically(
    routes,
    table({
      'webapp1.local': { upstreams: ['http://127.0.0.1:3001', 'http://127.0.0.1:3002'] },
      'webapp2.local': { upstreams: ['http://127.0.0.1:3002'] },
    }),
  );
  const listenArgs = ['--listen', `127.0.0.1:${busy}`, '--admin-listen', `127.0.0.1:${adminBusy}`];
  const good = run(t, ['--check', ...listenArgs, '--routes', routes], { NODIX_PROXY_WORKERS: '2' }, dir);
  t.equal(await good.exit, 0, good.stderr());
  t.equal(
    good.stdout(),
    `nodix-proxy: configuration OK: routes ${routes}: 2 hosts, 2 upstreams; settings from defaults + environment (NODIX_PROXY_WORKERS) + arguments; listen 127.0.0.1:${busy}, admin 127.0.0.1:${adminBusy}, 2 workers, access log off\n`,
  );
  t.equal(good.stderr(), '');

  const yaml = join(dir, 'routes.yaml');
  writeFileSync(yaml, 'version: 1\nhosts: {}\n');
  const bad = run(t, [
    '--check',
    ...listenArgs,
    '--routes',
    yaml,
    '--access-log',
    join(dir, 'no/such/dir/log'),
  ]);
  t.equal(await bad.exit, 2);
  t.equal(bad.stdout(), '');
  const lines = bad.stderr().trimEnd().split('\n');
  t.equal(lines.length, 2, 'one line per error');
  t.match(lines[0], new RegExp(`^nodix-proxy: ${yaml}: not valid JSON at line 1, column 1`));
  t.match(lines[1], /^nodix-proxy: access log .*no\/such\/dir\/log: cannot be created in .*\(ENOENT\)$/);

  const badSetting = run(t, ['--check', '--header-timeout', '-5']);
  t.equal(await badSetting.exit, 2);
  t.match(badSetting.stderr(), /^nodix-proxy: invalid configuration: timeouts\.header: is out of range/);
});
