import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { findH2load, H2LOAD_MISSING, h2loadArgs, parseH2loadOutput } from '../lib/h2load.js';
import { findNginx, NGINX_MISSING } from '../lib/nginx.js';
import { buildNginxConfig } from '../lib/nginx-config.js';
import { buildRouteTable } from '../lib/route-table.js';
import { benchCertificate } from '../lib/tls-cert.js';

const run = promisify(execFile);

/** What h2load 1.52 prints at the end of a run (progress lines before it). */
const H2LOAD_OUTPUT = `starting benchmark...
spawning thread #0: 10 total client(s). Timing-based test with 0s of warm-up time and 2s of main duration for measurements.
Application protocol: h2
finished in 2.00s, 15565.00 req/s, 472.17KB/s
requests: 31130 total, 31230 started, 31130 done, 31120 succeeded, 10 failed, 3 errored, 2 timeout
status codes: 31110 2xx, 0 3xx, 4 4xx, 6 5xx
traffic: 944.34KB (967000) total, 61.57KB (63050) headers (space savings 95.30%), 60.90KB (62360) data
                     min         max         mean         sd        +/- sd
time for request:      610us    146.64ms      6.05ms      9.29ms    91.90%
time for connect:    15.56ms    202.92ms     98.06ms     77.64ms    50.00%
`;

t.test("h2load's report parses into a LoadResult (p50: the mean, p99: the max)", async (t) => {
  t.same(parseH2loadOutput(H2LOAD_OUTPUT), {
    requests: 31120,
    durationSeconds: 2,
    requestsPerSecond: 15560,
    latencyP50Ms: 6.05,
    latencyP99Ms: 146.64,
    errors: 13,
    timeouts: 2,
    non2xx: 10,
    mismatches: 0,
    statusCodes: { '2xx': 31110, '3xx': 0, '4xx': 4, '5xx': 6 },
  });
  t.throws(() => parseH2loadOutput('finished in 2.00s, 1 req/s\n'), /without a "requests:" line/);
});

t.test('h2load connects to 127.0.0.1 and names the host in the URI (SNI and :authority)', async (t) => {
  const args = h2loadArgs({
    url: 'https://127.0.0.1:8443/',
    connections: 10,
    streams: 10,
    durationSeconds: 1.5,
    hosts: ['webapp1.local'],
    method: 'GET',
    bodyBytes: 0,
    generator: 'h2load',
  });
  t.same(args, ['-t1', '-c10', '-m10', '-D2', '--connect-to=127.0.0.1:8443', 'https://webapp1.local:8443/']);
});

t.test('nginx serves HTTPS with http2 from the generated config (nginx -t)', async (t) => {
  const nginx = findNginx();
  if (!nginx) return t.fail(NGINX_MISSING);
  if (!findH2load()) t.comment(H2LOAD_MISSING);
  const dir = mkdtempSync(join(tmpdir(), 'nodix-bench-h2-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const routes = buildRouteTable(2, ['http://127.0.0.1:3001']);
  const tls = benchCertificate(dir, Object.keys(routes.hosts));
  t.equal(benchCertificate(dir, Object.keys(routes.hosts)).cert, tls.cert, 'made once per directory');
  const text = buildNginxConfig({ dir, listenPort: 8443, routes, tls, http2: true });
  t.match(text, /listen 127\.0\.0\.1:8443 ssl http2; server_name webapp1\.local;/);
  t.match(text, /listen 127\.0\.0\.1:8443 ssl http2 default_server;/);
  t.match(text, /ssl_protocols TLSv1\.2 TLSv1\.3;/);
  writeFileSync(join(dir, 'nginx.conf'), text);
  const result = await run(nginx, [
    '-t',
    '-p',
    dir,
    '-c',
    join(dir, 'nginx.conf'),
    '-e',
    join(dir, 'error.log'),
  ]).catch((err: { stderr: string }) => ({ stderr: err.stderr, failed: true }));
  t.notOk('failed' in result, `nginx -t accepts it: ${result.stderr}`);
});
