/**
 * `--workers N` (node:cluster) through the built bin: reloads reach every worker, one scrape sums them, a dead
 * worker is replaced, SIGTERM stops them all.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { ready, run, writeAtomically } from '../child.js';
import {
  ADMIN_POST,
  HEALTH_KEYS,
  request,
  scrape,
  startUpstream,
  table,
  tempDir,
  waitFor,
} from '../helpers.js';

function childPids(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('two workers: reloads reach every worker, metrics are summed, SIGTERM stops all', async (t) => {
  const a = await startUpstream(t, (_req, res) => res.end('a'));
  const b = await startUpstream(t, (_req, res) => res.end('b'));
  const dir = tempDir(t);
  const routes = join(dir, 'routes.json');
  writeAtomically(routes, table({ 'webapp1.local': { upstreams: [a.origin] } }));
  const r = run(t, [
    '--listen',
    '127.0.0.1:0',
    '--admin-listen',
    '127.0.0.1:0',
    '--routes',
    routes,
    '--workers',
    '2',
    '--watch',
    'false',
  ]);
  const { port, adminPort } = await ready(r);
  const workers = childPids(r.child.pid!);
  t.equal(workers.length, 2, 'two worker processes');

  // Separate connections so that the primary spreads them over both workers.
  for (let i = 0; i < 20; i++) t.equal((await request(port)).body, 'a');
  const first = await scrape(adminPort!);
  t.match(
    first,
    /nodix_proxy_requests_total\{host="webapp1\.local",method="GET",code="200"\} 20/,
    'one scrape: the sum',
  );
  t.match(first, /nodix_proxy_config_reloads_total\{result="success"\} 0/);
  const health = (await (await fetch(`http://127.0.0.1:${adminPort}/healthz`)).json()) as Record<
    string,
    unknown
  >;
  t.same(Object.keys(health).sort(), HEALTH_KEYS, '/healthz: the same keys as with one process');
  t.match(health, { status: 'ok', workers: 2, hosts: 1, inFlight: 0 });
  t.type(health.openConnections, 'number');

  writeAtomically(routes, table({ 'webapp1.local': { upstreams: [b.origin] } }));
  const reload = await fetch(`http://127.0.0.1:${adminPort}/reload`, ADMIN_POST);
  t.same(await reload.json(), { ok: true, hosts: 1, source: routes });
  // The reload answered after both workers applied it: every request now goes to b, whichever worker serves it.
  for (let i = 0; i < 20; i++) t.equal((await request(port)).body, 'b');
  const second = await scrape(adminPort!);
  t.match(
    second,
    /nodix_proxy_config_reloads_total\{result="success"\} 1/,
    'a reload counts once, not per worker',
  );
  t.match(second, /nodix_proxy_config_last_reload_success 1/);

  writeAtomically(routes, { version: 1, hosts: { 'webapp1.local': { upstreams: [] } } });
  const rejected = await fetch(`http://127.0.0.1:${adminPort}/reload`, ADMIN_POST);
  t.equal(rejected.status, 422);
  t.match(((await rejected.json()) as { error: string }).error, /upstreams: must be a non-empty array/);
  t.match(await scrape(adminPort!), /nodix_proxy_config_last_reload_success 0/);
  t.equal((await request(port)).body, 'b');

  writeAtomically(routes, table({ 'webapp1.local': { upstreams: [a.origin] } }));
  r.child.kill('SIGHUP');
  await waitFor(
    async () => {
      const bodies = await Promise.all(
        Array.from({ length: 6 }, () => request(port).then((res) => res.body)),
      );
      return bodies.every((body) => body === 'a');
    },
    5000,
    'SIGHUP reached both workers',
  );

  r.child.kill('SIGTERM');
  t.equal(await r.exit, 0);
  await waitFor(() => workers.every((pid) => !alive(pid)), 5000, 'workers gone');
});

t.test('a worker that dies is replaced with the current table', async (t) => {
  const up = await startUpstream(t, (_req, res) => res.end('up'));
  const dir = tempDir(t);
  const routes = join(dir, 'routes.json');
  writeAtomically(routes, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const r = run(t, [
    '--listen',
    '127.0.0.1:0',
    '--admin-listen',
    'off',
    '--routes',
    routes,
    '--workers',
    '2',
  ]);
  const { port } = await ready(r);
  const [victim] = childPids(r.child.pid!);
  process.kill(victim!, 'SIGKILL');
  await waitFor(
    () => /worker \d exited \(SIGKILL\), starting a new one/.test(r.stderr()),
    5000,
    'primary noticed',
  );
  await waitFor(
    () => childPids(r.child.pid!).filter((pid) => pid !== victim).length === 2,
    10_000,
    'replacement forked',
  );
  await waitFor(async () => (await request(port)).body === 'up', 5000, 'served');
  for (let i = 0; i < 10; i++) t.equal((await request(port)).body, 'up');
  r.child.kill('SIGTERM');
  const stopping = Date.now();
  t.equal(await r.exit, 0);
  t.ok(Date.now() - stopping < 5000, 'the replacement drained on SIGTERM too (no kill after the deadline)');
});

t.test('SIGTERM while a replacement worker is still starting stops it as well', async (t) => {
  const up = await startUpstream(t, (_req, res) => res.end('up'));
  const dir = tempDir(t);
  const routes = join(dir, 'routes.json');
  writeAtomically(routes, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const r = run(t, [
    '--listen',
    '127.0.0.1:0',
    '--admin-listen',
    'off',
    '--routes',
    routes,
    '--workers',
    '2',
  ]);
  await ready(r);
  const [victim] = childPids(r.child.pid!);
  process.kill(victim!, 'SIGKILL');
  // The moment the replacement process exists, before it can receive messages.
  await waitFor(
    () => childPids(r.child.pid!).filter((pid) => pid !== victim).length === 2,
    10_000,
    'replacement forked',
  );
  const stopping = Date.now();
  r.child.kill('SIGTERM');
  t.equal(await r.exit, 0);
  t.ok(Date.now() - stopping < 5000, `stopped in ${Date.now() - stopping} ms`);
});
