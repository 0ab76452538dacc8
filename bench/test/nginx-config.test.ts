import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProxy, TLS_CIPHERS } from '@nodix/proxy';
import t, { type Test } from 'tap';
import { findNginx, NGINX_MISSING, startNginx } from '../lib/nginx.js';
import { buildNginxConfig } from '../lib/nginx-config.js';
import { buildRouteTable } from '../lib/route-table.js';
import { makeBenchCertificate } from '../lib/setups.js';

const backends = ['http://127.0.0.1:3001', 'http://127.0.0.1:3002'];

/** Debian's nginx and a temp dir removed at teardown; null (and a failure) without nginx. */
function nginxAndDir(t: Test): { nginx: string; dir: string } | null {
  const nginx = findNginx();
  if (!nginx) {
    t.fail(NGINX_MISSING);
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'nodix-bench-nginx-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { nginx, dir };
}

/** `nginx -t` on `conf`, with `dir` as its prefix (nothing outside it is touched). */
function nginxTest(nginx: string, dir: string, conf: string) {
  return spawnSync(nginx, ['-t', '-q', '-p', dir, '-c', conf, '-e', join(dir, 'error.log')], {
    encoding: 'utf8',
  });
}

t.test('one worker, keep-alive both ways, every path inside the temp dir', async (t) => {
  const text = buildNginxConfig({ dir: '/tmp/x', listenPort: 8080, routes: buildRouteTable(4, backends) });
  t.match(text, /^worker_processes 1;$/m);
  t.match(text, /^daemon off;$/m);
  t.match(text, /^master_process on;$/m);
  t.match(text, /^pid \/tmp\/x\/nginx\.pid;$/m);
  t.match(text, /^error_log \/tmp\/x\/error\.log/m);
  t.match(text, /^ {2}access_log off;$/m);
  t.match(text, /keepalive_requests 1000000;/, 'client side: autocannon never has to reconnect');
  t.match(text, /proxy_set_header Connection "";/, 'upstream keep-alive needs the Connection header cleared');
  t.match(text, /proxy_http_version 1\.1;/);
  t.match(text, /keepalive 128;/);
  for (const path of text.matchAll(/(?:_path|pid|error_log) (\/\S+)/g)) {
    t.ok(path[1]!.startsWith('/tmp/x/'), `${path[1]} is inside the temp dir`);
  }
});

t.test('hosts share upstream groups; unknown hosts get 404', async (t) => {
  const text = buildNginxConfig({
    dir: '/tmp/x',
    listenPort: 8080,
    routes: buildRouteTable(10_000, backends),
  });
  t.equal(text.match(/^ {2}upstream /gm)?.length, 2, 'one upstream block per distinct backend list');
  t.equal(text.match(/server_name /g)?.length, 10_000);
  t.match(text, /server_name webapp1\.local; location \/ \{ proxy_pass http:\/\/nodix_up_0; \}/);
  t.match(text, /server_name webapp2\.local; location \/ \{ proxy_pass http:\/\/nodix_up_1; \}/);
  t.match(text, /server 127\.0\.0\.1:3002;/);
  t.match(text, /listen 127\.0\.0\.1:8080 default_server; return 404;/);
});

t.test('more connections only when asked for: worker_connections and worker_rlimit_nofile', async (t) => {
  const routes = buildRouteTable(4, backends);
  const plain = buildNginxConfig({ dir: '/tmp/x', listenPort: 1, routes });
  t.match(plain, /^ {2}worker_connections 4096;$/m);
  t.notMatch(plain, /worker_rlimit_nofile/, 'the load scenarios keep nginx as it was');
  const idle = buildNginxConfig({ dir: '/tmp/x', listenPort: 1, routes, maxConnections: 12_048 });
  t.match(idle, /^ {2}worker_connections 12048;$/m);
  t.match(idle, /^worker_rlimit_nofile 12048;$/m);
});

t.test('only http upstreams', async (t) => {
  const routes = { version: 1 as const, hosts: { 'a.local': { upstreams: ['https://127.0.0.1:1'] } } };
  t.throws(() => buildNginxConfig({ dir: '/tmp/x', listenPort: 1, routes }), /only http upstreams/);
});

t.test('nginx accepts the generated config (nginx -t)', async (t) => {
  const found = nginxAndDir(t);
  if (found === null) return;
  const { nginx, dir } = found;
  const conf = join(dir, 'nginx.conf');
  for (const maxConnections of [undefined, 12_048]) {
    const routes = buildRouteTable(10_000, backends);
    writeFileSync(
      conf,
      buildNginxConfig({ dir, listenPort: 1, routes, ...(maxConnections ? { maxConnections } : {}) }),
    );
    const check = nginxTest(nginx, dir, conf);
    t.equal(check.status, 0, `maxConnections ${maxConnections}: ${check.stderr}`);
  }
});

t.test(
  'HTTPS: ssl listeners with the proxy protocols, ciphers and curves, no session resumption',
  async (t) => {
    const found = nginxAndDir(t);
    if (found === null) return;
    const { nginx, dir } = found;
    const tls = makeBenchCertificate(dir);
    const routes = buildRouteTable(2, backends);
    const text = buildNginxConfig({ dir, listenPort: 8443, routes, tls });
    t.match(text, /server \{ listen 127\.0\.0\.1:8443 ssl; server_name webapp1\.local;/);
    t.match(text, /listen 127\.0\.0\.1:8443 ssl default_server;/);
    t.match(text, /^ {2}ssl_protocols TLSv1\.2 TLSv1\.3;$/m);
    t.match(text, new RegExp(`^ {2}ssl_ciphers ${TLS_CIPHERS};$`, 'm'));
    t.match(text, /^ {2}ssl_session_cache off;$/m);
    t.match(text, /^ {2}ssl_session_tickets off;$/m);
    t.match(text, /^ {2}ssl_ecdh_curve X25519:prime256v1:secp384r1;$/m);
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, text);
    const check = nginxTest(nginx, dir, conf);
    t.equal(check.status, 0, check.stderr);
  },
);

/**
 * "The same settings": a real nginx with the generated config and a real nodix-proxy in front of one backend that
 * records what it receives. The upstream must get the same header names from both (the values of Host and
 * X-Forwarded-* too; request ids differ by nature), or the two do different work per request.
 */
t.test('nginx sends the upstream the headers nodix-proxy sends', async (t) => {
  if (!findNginx()) {
    t.fail(NGINX_MISSING);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'nodix-bench-nginx-headers-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const received: IncomingHttpHeaders[] = [];
  const backend = createServer((req, res) => {
    received.push(req.headers);
    res.end('ok\n');
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  t.teardown(() => backend.close());
  const origin = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
  const routes = buildRouteTable(1, [origin]);
  const host = Object.keys(routes.hosts)[0]!;

  const unpinned = {
    loadPrefix: [],
    serverPrefix: [],
    loadCpu: undefined,
    serverCpu: undefined,
    description: '',
  };
  const nginx = await startNginx(dir, routes, unpinned);
  t.teardown(() => nginx.proc.stop());
  const proxy = createProxy({ listen: '127.0.0.1:0', adminListen: null, routeTable: routes, log: () => {} });
  t.teardown(() => proxy.close({ timeoutMs: 0 }));
  const { listen } = await proxy.listen();

  for (const port of [nginx.port, listen.port]) {
    // node:http, not fetch: fetch drops a Host header it is given.
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = request(
        {
          port,
          host: '127.0.0.1',
          path: '/path?q=1',
          headers: { host, 'user-agent': 'bench-test', cookie: 'a=b' },
        },
        (res) => res.resume().on('end', () => resolve(res.statusCode)),
      );
      req.on('error', reject).end();
    });
    t.equal(status, 200, `port ${port} answers`);
  }
  t.equal(received.length, 2);
  const [fromNginx, fromNodix] = received as [IncomingHttpHeaders, IncomingHttpHeaders];
  const names = (h: IncomingHttpHeaders) => Object.keys(h).sort();
  t.same(names(fromNginx), names(fromNodix), 'the same header names reach the upstream');
  t.match(fromNginx['x-request-id'], /^[0-9a-f]{32}$/, "nginx's $request_id");
  t.ok(fromNodix['x-request-id'], "nodix-proxy's request id");
  for (const name of [
    'host',
    'x-forwarded-for',
    'x-forwarded-proto',
    'x-forwarded-host',
    'cookie',
    'user-agent',
  ])
    t.equal(fromNginx[name], fromNodix[name], `${name} has the same value`);
});
