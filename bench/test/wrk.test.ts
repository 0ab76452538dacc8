import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { buildCorpus, writeCorpusFile } from '../lib/corpus.js';
import { findWrk, generatorCommand, type LoadOptions, parseResultLine, WRK_MISSING } from '../lib/load.js';
import { benchCertificate } from '../lib/tls-cert.js';

const run = promisify(execFile);

/** What wrk prints with replay-corpus.lua: its own report, then the script's RESULT line. */
const WRK_OUTPUT = `Running 2s test @ http://127.0.0.1:39123/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.36ms    2.08ms  40.81ms   95.79%
    Req/Sec    45.78k    11.31k   53.01k    85.00%
  90998 requests in 2.01s, 14.41MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 3
Requests/sec:  45383.45
Transfer/sec:      7.18MB
RESULT {"requests":90998,"durationSeconds":2.005092,"requestsPerSecond":45383.454,"latencyP50Ms":0.972,"latencyP99Ms":9.255,"errors":3,"timeouts":1,"non2xx":3,"mismatches":0,"statusCodes":{}}
`;

t.test("wrk's RESULT line parses into a LoadResult", async (t) => {
  t.same(parseResultLine(WRK_OUTPUT), {
    requests: 90998,
    durationSeconds: 2.005092,
    requestsPerSecond: 45383.454,
    latencyP50Ms: 0.972,
    latencyP99Ms: 9.255,
    errors: 3,
    timeouts: 1,
    non2xx: 3,
    mismatches: 0,
    statusCodes: {},
  });
  // autocannon's worker prints the same line, with status codes.
  const autocannon =
    'load worker ready\nRESULT {"requests":5,"durationSeconds":1,"requestsPerSecond":5,"latencyP50Ms":1,"latencyP99Ms":2,"errors":0,"timeouts":0,"non2xx":0,"mismatches":0,"statusCodes":{"200":5}}';
  t.same(parseResultLine(autocannon).statusCodes, { '200': 5 });
  t.throws(() => parseResultLine('Running 2s test @ http://127.0.0.1:1/\n'), /no RESULT line/);
  t.throws(
    () => parseResultLine('RESULT {"requests":1,"durationSeconds":1}'),
    /without a number for requestsPerSecond/,
  );
  t.throws(() => parseResultLine('RESULT {"requests":'), SyntaxError);
});

t.test(
  'the wrk command line: one thread, pinned connections, whole seconds, the corpus after --',
  async (t) => {
    const options: LoadOptions = {
      url: 'http://127.0.0.1:8080/',
      connections: 50,
      durationSeconds: 1.5,
      hosts: [],
      method: 'GET',
      bodyBytes: 0,
      generator: 'wrk',
      corpusFile: '/tmp/corpus.http',
    };
    if (!findWrk()) return t.fail(WRK_MISSING);
    const { args, ready } = generatorCommand(options);
    t.same(args.slice(0, 3), ['-t1', '-c50', '-d2s'], '1.5 s rounds to 2 (wrk takes whole seconds)');
    t.same(args.slice(-3), ['http://127.0.0.1:8080/', '--', '/tmp/corpus.http']);
    t.match(args.join(' '), /-s \S+replay-corpus\.lua /);
    t.match('Running 2s test @ http://127.0.0.1:8080/', ready);
    t.match('Running 1.50m test @ http://127.0.0.1:8080/', ready, 'longer loads are written in minutes');
    t.throws(() => generatorCommand({ ...options, corpusFile: undefined }), /needs a corpus file/);
    t.equal(generatorCommand({ ...options, generator: 'autocannon' }).command, process.execPath);
  },
);

t.test('wrk replays the corpus byte for byte, in order, wrapping around', async (t) => {
  const wrk = findWrk();
  if (!wrk) return t.fail(WRK_MISSING);
  const dir = mkdtempSync(join(tmpdir(), 'nodix-bench-wrk-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const heads = buildCorpus({ seed: 3, heads: 40, hosts: 7, tableHosts: 100 });
  const corpusFile = join(dir, 'corpus.http');
  await writeCorpusFile(corpusFile, heads);

  // Rebuild each request's head from what node:http read (rawHeaders keep case and order).
  const received: string[] = [];
  const server = createServer((req, res) => {
    const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    received.push(`${lines.join('\r\n')}\r\n\r\n`);
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const { command, args } = generatorCommand({
    url,
    connections: 1,
    durationSeconds: 1,
    hosts: [],
    method: 'GET',
    bodyBytes: 0,
    generator: 'wrk',
    corpusFile,
  });
  // Async: this process serves the requests meanwhile. One connection, so the order is the corpus's own.
  const { stdout } = await run(command, args, { timeout: 30_000 });
  const result = parseResultLine(stdout);
  t.equal(result.errors, 0);
  t.equal(result.non2xx, 0);
  t.ok(
    result.requests > heads.length,
    `${result.requests} requests: more than one pass over ${heads.length} heads`,
  );
  t.ok(received.length >= result.requests, 'the server saw every request wrk counted');
  // wrk calls request() once before the load to check that it parses (and counts the requests in it for its
  // pipelining: one here), so the first head sent is the corpus's second.
  const wrong = received.findIndex((head, i) => head !== heads[(i + 1) % heads.length]);
  t.equal(
    wrong,
    -1,
    wrong >= 0 ? `request ${wrong} differs:\n${received[wrong]}` : 'every request is its head',
  );
  t.ok(result.latencyP99Ms >= result.latencyP50Ms && result.latencyP50Ms > 0, 'latencies in ms');

  // A file that is not a list of heads stops wrk before any load, with a non-zero exit.
  const broken = join(dir, 'broken.http');
  writeFileSync(broken, `${heads[0]}GET / HTTP/1.1\r\nHost: x\r\n`);
  await t.rejects(
    run(command, [...args.slice(0, -1), broken], { timeout: 30_000 }),
    'trailing bytes without CRLF CRLF: error',
  );
});

t.test('over HTTPS (proxy-tls) wrk replays the corpus as well, every head naming the SNI host', async (t) => {
  const wrk = findWrk();
  if (!wrk) return t.fail(WRK_MISSING);
  const dir = mkdtempSync(join(tmpdir(), 'nodix-bench-wrk-tls-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const heads = buildCorpus({ seed: 5, heads: 30, hosts: 1, tableHosts: 1, host: '127.0.0.1' });
  t.ok(
    heads.every((head) => head.includes('\r\nHost: 127.0.0.1\r\n')),
    'every head names the fixed host',
  );
  const corpusFile = join(dir, 'corpus.http');
  await writeCorpusFile(corpusFile, heads);
  const certificate = benchCertificate(dir, ['127.0.0.1']);
  const received: string[] = [];
  const names = new Set<string>();
  const server = createHttpsServer(
    { cert: readFileSync(certificate.cert), key: readFileSync(certificate.key) },
    (req, res) => {
      const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      received.push(`${lines.join('\r\n')}\r\n\r\n`);
      names.add(String((req.socket as { servername?: string | false }).servername));
      res.end('ok');
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const { command, args } = generatorCommand({
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    connections: 1,
    durationSeconds: 1,
    hosts: ['127.0.0.1'],
    method: 'GET',
    bodyBytes: 0,
    generator: 'wrk',
    https: 'keep-alive',
    corpusFile,
  });
  t.match(args.at(-4) ?? '', /replay-corpus\.lua$/);
  const { stdout } = await run(command, args, { timeout: 30_000 });
  const result = parseResultLine(stdout);
  t.equal(result.errors, 0);
  t.ok(result.requests > heads.length, `${result.requests} requests over TLS`);
  const wrong = received.findIndex((head, i) => head !== heads[(i + 1) % heads.length]);
  t.equal(
    wrong,
    -1,
    wrong >= 0 ? `request ${wrong} differs:\n${received[wrong]}` : 'every request is its head',
  );
  t.same([...names], ['127.0.0.1'], 'wrk sent the URL host as SNI, the Host of every head');
});

t.test(
  'the HTTPS wrk command line: wrk-summary.lua, Connection: close for a handshake per request',
  async (t) => {
    if (!findWrk()) {
      t.fail(WRK_MISSING);
      return;
    }
    const base: LoadOptions = {
      url: 'https://127.0.0.1:8443/',
      connections: 50,
      durationSeconds: 1.5,
      hosts: ['127.0.0.1'],
      method: 'GET',
      bodyBytes: 0,
      generator: 'wrk',
    };
    const keepAlive = generatorCommand({ ...base, https: 'keep-alive' });
    t.same(keepAlive.args.slice(0, 5), ['-t1', '-c50', '-d2s', '--timeout', '10s']);
    t.notOk(keepAlive.args.includes('Connection: close'));
    t.match(keepAlive.args.at(-2) ?? '', /wrk-summary\.lua$/);
    t.equal(keepAlive.args.at(-1), 'https://127.0.0.1:8443/');
    const handshakes = generatorCommand({ ...base, https: 'new-connection' });
    t.same(handshakes.args.slice(5, 7), ['-H', 'Connection: close']);
  },
);
