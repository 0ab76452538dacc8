/**
 * Regression tests for the HTTP/1.1 defects of issue #10, each run through both request paths: the fast path
 * (the default) and node:http (`fastPath: false`). The two must answer every case alike; raw sockets on both
 * sides show exactly what the client gets and what the upstream receives.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import t, { type Test } from 'tap';
import type { ProxyOptions } from '../../src/index.js';
import {
  digest,
  digestUpstream,
  rawClient,
  sleep,
  startProxy,
  startRawUpstream,
  startUpstream,
  table,
} from '../helpers.js';

const PATHS: [string, ProxyOptions][] = [
  ['fast path', {}],
  ['node:http path', { fastPath: false }],
];

/** Runs `body` once per request path, as a subtest named after it. */
function bothPaths(name: string, body: (t: Test, options: ProxyOptions) => Promise<void>): void {
  t.test(name, async (t) => {
    for (const [label, options] of PATHS) await t.test(label, (t) => body(t, options));
  });
}

const HOST = 'webapp1.local';
const GET = (path = '/', extra = '') => `GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\n${extra}\r\n`;
const bodyOf = (response: string | undefined) => response?.slice(response.indexOf('\r\n\r\n') + 4);
const statusOf = (response: string | undefined) => Number(response?.slice(9, 12));

bothPaths('1: a POST whose body comes with its head leaves the connection serving', async (t, options) => {
  const up = await digestUpstream(t);
  const { port } = await startProxy(t, table({ [HOST]: { upstreams: [up.origin] } }), options);
  const c = await rawClient(t, port);
  for (const size of [16 * 1024, 30 * 1024, 64 * 1024]) {
    const body = randomBytes(size);
    const head = `POST /upload HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${size}\r\n\r\n`;
    const [post] = await c.send(Buffer.concat([Buffer.from(head, 'latin1'), body]), 1, 20_000);
    t.equal(bodyOf(post), digest(body), `${size} bytes arrived intact`);
    const [next] = await c.send(GET(`/after-${size}`), 1, 20_000);
    t.equal(statusOf(next), 200, `the request after a ${size}-byte POST is answered`);
  }
});

bothPaths(
  '1: a POST whose body is all here while it waits for an upstream socket leaves the connection serving',
  async (t, options) => {
    const up = await digestUpstream(t, 200);
    const { port } = await startProxy(t, table({ [HOST]: { upstreams: [up.origin] } }), {
      ...options,
      limits: { maxUpstreamConnections: 1 },
    });
    // Another client holds the only upstream socket for 200 ms.
    const other = await rawClient(t, port);
    const busy = other.send(`POST /hold HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 1\r\n\r\nx`, 1, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const c = await rawClient(t, port);
    const body = randomBytes(30 * 1024);
    const head = `POST /upload HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${body.length}\r\n\r\n`;
    const [post] = await c.send(Buffer.concat([Buffer.from(head, 'latin1'), body]), 1, 20_000);
    t.equal(bodyOf(post), digest(body));
    t.equal(statusOf((await busy)[0]), 200);
    const [next] = await c.send(GET('/after'), 1, 20_000);
    t.equal(statusOf(next), 200, 'the request after it is answered');
  },
);

/** The target of the last bodiless request in `received` (what a raw upstream got on one connection). */
function lastPath(received: string): string {
  const heads = received.split('\r\n\r\n');
  return /^[A-Z]+ (\S+)/.exec(heads[heads.length - 2] ?? '')?.[1] ?? '';
}

/** The request's header lines as the upstream got them (startUpstream's echo), lower-cased names. */
async function upstreamHeaders(response: string | undefined): Promise<[string, string][]> {
  const raw = (JSON.parse(bodyOf(response) ?? '{}') as { rawHeaders?: string[] }).rawHeaders ?? [];
  const out: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return out;
}

bothPaths(
  '3, 6: a Connection token never removes Host, Content-Length or Transfer-Encoding of a request',
  async (t, options) => {
    const up = await startUpstream(t, (req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => res.end(JSON.stringify({ rawHeaders: req.rawHeaders, body })));
    });
    const { port } = await startProxy(t, table({ [HOST]: { upstreams: [up.origin] } }), options);
    const c = await rawClient(t, port);
    const [get] = await c.send(GET('/', 'Connection: host, x-gone\r\nX-Gone: 1\r\n'));
    const got = await upstreamHeaders(get);
    t.same(
      got.filter(([name]) => name === 'host'),
      [['host', HOST]],
      'Connection: host leaves Host',
    );
    t.notOk(
      got.some(([name]) => name === 'x-gone'),
      'a header a Connection token names is removed',
    );
    const [post] = await c.send(
      `POST / HTTP/1.1\r\nHost: ${HOST}\r\nConnection: content-length, host\r\nContent-Length: 5\r\n\r\nhello`,
    );
    const sent = await upstreamHeaders(post);
    t.same(
      sent.filter(([name]) => name === 'content-length' || name === 'transfer-encoding'),
      [['content-length', '5']],
      'Connection: content-length leaves the body framed by its Content-Length',
    );
    t.equal(JSON.parse(bodyOf(post)!).body, 'hello');
    const [chunked] = await c.send(
      `POST / HTTP/1.1\r\nHost: ${HOST}\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    );
    t.equal(JSON.parse(bodyOf(chunked)!).body, 'hello', 'Connection: transfer-encoding keeps a chunked body');
  },
);

bothPaths(
  '3: a Connection token in a response never removes its framing; every response is framed',
  async (t, options) => {
    const up = await startRawUpstream(t, (socket, received) => {
      if (!received.endsWith('\r\n\r\n')) return;
      const path = lastPath(received);
      if (path.endsWith('/length'))
        socket.write('HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\nhello');
      else if (path.endsWith('/chunked'))
        socket.write(
          'HTTP/1.1 200 OK\r\nConnection: transfer-encoding, keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
        );
      else if (path.endsWith('/close'))
        socket.end('HTTP/1.1 200 OK\r\nConnection: close, content-length\r\n\r\nhello');
    });
    const { port } = await startProxy(t, table({ [HOST]: { upstreams: [up.origin] } }), options);
    const c = await rawClient(t, port);
    for (const path of ['/length', '/chunked', '/close', '/length']) {
      const [r] = await c.send(GET(path));
      t.equal(statusOf(r), 200, `${path} answered`);
      const head = r?.slice(0, r.indexOf('\r\n\r\n')) ?? '';
      t.ok(
        /\r\ncontent-length: 5/i.test(head) ||
          /\r\ntransfer-encoding: chunked/i.test(head) ||
          /\r\nconnection: close/i.test(head),
        `${path}: framed (${JSON.stringify(head)})`,
      );
      t.match(r, /hello/, `${path}: the body arrived`);
    }
  },
);

/** Writes `bytes` in two writes split at `at` (a pause between them), collects the answer until close or 3 s. */
function splitRequest(port: number, bytes: Buffer, at: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      out += chunk;
    });
    socket.on('error', () => {});
    const timer = setTimeout(() => socket.destroy(), 3000);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.on('connect', async () => {
      if (at > 0) {
        socket.write(bytes.subarray(0, at));
        await sleep(5);
      }
      socket.write(bytes.subarray(at));
    });
  });
}

bothPaths(
  '4: only SP and HTAB are optional whitespace, however the head is split into reads',
  async (t, options) => {
    const up = await startUpstream(t);
    const { port } = await startProxy(t, table({ [HOST]: { upstreams: [up.origin] } }), options);
    const cases = [
      `POST / HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: \xA05\r\n\r\nhello`,
      `GET / HTTP/1.1\r\nHost: \xA0${HOST}\r\n\r\n`,
      `GET / HTTP/1.1\r\nHost: ${HOST}\xA0\r\n\r\n`,
    ];
    for (const text of cases) {
      const bytes = Buffer.from(text, 'latin1');
      const statuses = new Set<number>();
      for (let at = 0; at < bytes.length; at++) statuses.add(statusOf(await splitRequest(port, bytes, at)));
      t.same([...statuses], [400], `${JSON.stringify(text)}: 400 at every split point`);
    }
    t.equal(up.requests.length, 0, 'nothing reached the upstream');
    const ok = Buffer.from(`GET / HTTP/1.1\r\nHost:\t ${HOST} \t\r\nConnection: close\r\n\r\n`, 'latin1');
    t.equal(statusOf(await splitRequest(port, ok, 0)), 200, 'SP and HTAB around a value are fine');
  },
);

bothPaths(
  '7: request header names with an underscore are dropped, unless underscoresInHeaders is set',
  async (t, options) => {
    const up = await startUpstream(t);
    const route = table({ [HOST]: { upstreams: [up.origin] } });
    const extra =
      'X_Forwarded_For: 6.6.6.6\r\nContent_Length: 5\r\nTransfer_Encoding: chunked\r\nX_Custom: a\r\nX-Dashed: b\r\n';
    const dropping = await startProxy(t, route, options);
    const c = await rawClient(t, dropping.port);
    const [r] = await c.send(GET('/', extra));
    const names = (await upstreamHeaders(r)).map(([name]) => name);
    t.notOk(
      names.some((name) => name.includes('_')),
      `no underscore name reached the upstream (${names})`,
    );
    t.ok(names.includes('x-dashed'), 'other headers did');
    t.equal(statusOf(r), 200);

    const keeping = await startProxy(t, route, { ...options, underscoresInHeaders: true });
    const k = await rawClient(t, keeping.port);
    const [kept] = await k.send(GET('/', extra));
    const got = await upstreamHeaders(kept);
    t.same(
      got.filter(([name]) => name.includes('_')),
      [
        ['x_forwarded_for', '6.6.6.6'],
        ['content_length', '5'],
        ['transfer_encoding', 'chunked'],
        ['x_custom', 'a'],
      ],
      'kept as they came with underscoresInHeaders: true',
    );
  },
);

bothPaths('5: a head with more header lines than allowed is 431, never cut short', async (t, options) => {
  const up = await startUpstream(t);
  up.server.maxHeadersCount = 0; // the test's upstream sees every line
  const { port } = await startProxy(t, table({ [HOST]: { upstreams: [up.origin] } }), {
    ...options,
    limits: { maxHeaderSize: 64 * 1024 },
  });
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `x${i}: ${i}\r\n`).join('');
  // The limit is 2000 lines, Host included.
  const [atLimit] = await (await rawClient(t, port)).send(GET('/', lines(1999)));
  t.equal(statusOf(atLimit), 200, '2000 lines are fine');
  t.equal(
    (await upstreamHeaders(atLimit)).filter(([name]) => /^x\d/.test(name)).length,
    1999,
    'all of them forwarded',
  );
  const [over] = await (await rawClient(t, port)).send(GET('/', lines(2000)));
  t.equal(statusOf(over), 431, '2001 lines: 431');
  const [hidden] = await (await rawClient(t, port)).send(GET('/', `${lines(2000)}Host: other.test\r\n`));
  t.equal(statusOf(hidden), 431, 'a second Host behind 2000 lines is not missed');
  t.equal(up.requests.length, 1, 'only the first request reached the upstream');
});

bothPaths('5: two Host headers are 400, with any target', async (t, options) => {
  const up = await startUpstream(t);
  const { port } = await startProxy(t, table({ [HOST]: { upstreams: [up.origin] } }), options);
  for (const target of ['/', `http://${HOST}/`, 'http://other.test/x']) {
    const [r] = await (await rawClient(t, port)).send(
      `GET ${target} HTTP/1.1\r\nHost: ${HOST}\r\nHost: other.test\r\n\r\n`,
    );
    t.equal(statusOf(r), 400, `two Hosts with target ${target}`);
  }
  const [absolute] = await (await rawClient(t, port)).send(
    `GET http://${HOST}/abs HTTP/1.1\r\nHost: other.test\r\n\r\n`,
  );
  t.equal(statusOf(absolute), 200, 'one Host and an absolute-form target: routed by the target');
  t.equal(up.requests.length, 1);
});

bothPaths('10: a transfer coding other than chunked is 501', async (t, options) => {
  const up = await startUpstream(t);
  const { port } = await startProxy(t, table({ [HOST]: { upstreams: [up.origin] } }), options);
  for (const coding of ['gzip, chunked', 'gzip', 'chunked, chunked', 'identity', 'x-custom, chunked']) {
    const [r] = await (await rawClient(t, port)).send(
      `POST / HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: ${coding}\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    );
    t.equal(statusOf(r), 501, `Transfer-Encoding: ${coding}`);
    t.match(r, /\r\nconnection: close\r\n/i, 'and the connection closes');
  }
  const [split] = await (await rawClient(t, port)).send(
    `POST / HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  );
  t.equal(statusOf(split), 501, 'gzip and chunked in two headers');
  const [ok] = await (await rawClient(t, port)).send(
    `POST / HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  );
  t.equal(statusOf(ok), 200, 'chunked alone (any case) is forwarded');
  t.equal(up.requests.length, 1);
});

bothPaths('8: a slow upload is not timed by the upstream headers timeout', async (t, options) => {
  const up = await digestUpstream(t);
  const { port } = await startProxy(t, table({ [HOST]: { upstreams: [up.origin] } }), {
    ...options,
    timeouts: { upstreamHeadersMs: 200 },
  });
  const c = await rawClient(t, port);
  const body = randomBytes(5 * 1024);
  c.socket.write(`POST /slow HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${body.length}\r\n\r\n`);
  // Five pieces, 150 ms apart: the upload takes three times the upstream headers timeout.
  for (let i = 0; i < 5; i++) {
    await sleep(150);
    c.socket.write(body.subarray(i * 1024, (i + 1) * 1024));
  }
  const [r] = await c.send('', 1, 10_000);
  t.equal(statusOf(r), 200, 'answered, not 504');
  t.equal(bodyOf(r), digest(body));
  // The timeout still applies once the request is sent.
  const late = await startUpstream(t, (req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.end('late'), 1000));
  });
  const slow = await startProxy(t, table({ [HOST]: { upstreams: [late.origin] } }), {
    ...options,
    timeouts: { upstreamHeadersMs: 200 },
  });
  const s = await rawClient(t, slow.port);
  const [timedOut] = await s.send(
    `POST / HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 5\r\n\r\nhello`,
    1,
    10_000,
  );
  t.equal(statusOf(timedOut), 504, 'an upstream silent after the body is 504');
});

/** An upstream that counts how many requests it has at once; answers each with its path after `delayMs`. */
async function countingUpstream(t: Test, delayMs: number) {
  const seen = { active: 0, most: 0 };
  const up = await startUpstream(t, (req, res) => {
    seen.active++;
    seen.most = Math.max(seen.most, seen.active);
    req.resume();
    req.on('end', () =>
      setTimeout(() => {
        seen.active--;
        res.end(req.url);
      }, delayMs),
    );
  });
  return { up, seen };
}

bothPaths('2: pipelined requests reach the upstream one at a time, in order', async (t, options) => {
  const { up, seen } = await countingUpstream(t, 5);
  const { port } = await startProxy(t, table({ [HOST]: { upstreams: [up.origin] } }), options);
  const c = await rawClient(t, port);
  const paths = Array.from({ length: 100 }, (_, i) => `/p${i}`);
  const answers = await c.send(paths.map((path) => GET(path)).join(''), paths.length, 20_000);
  t.same(answers.map(bodyOf), paths, 'all answered, in order');
  t.equal(seen.most, 1, 'never more than one at the upstream');

  seen.most = 0;
  const post = (path: string) => `POST ${path} HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 5\r\n\r\nhello`;
  const posts = await c.send(post('/post1') + post('/post2'), 2, 20_000);
  t.same(posts.map(bodyOf), ['/post1', '/post2']);
  t.equal(seen.most, 1, 'two pipelined POSTs never at the upstream together');

  // Another client is served meanwhile: one connection's pipeline holds at most one upstream socket.
  seen.most = 0;
  const other = await rawClient(t, port);
  const burst = c.send(paths.map((path) => GET(path)).join(''), paths.length, 20_000);
  const [alone] = await other.send(GET('/other'), 1, 20_000);
  t.equal(bodyOf(alone), '/other');
  t.ok(seen.most <= 2, 'the other client ran beside the pipeline, not behind it');
  t.equal((await burst).length, paths.length);
});

bothPaths('9: a valid request followed by garbage: its answer, then 400 and close', async (t, options) => {
  const { up } = await countingUpstream(t, 50);
  const { port } = await startProxy(t, table({ [HOST]: { upstreams: [up.origin] } }), options);
  for (const garbage of [
    'garbage\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n',
    '\x00\x01\x02',
  ]) {
    const c = await rawClient(t, port);
    const answers = await c.send(GET('/first') + GET('/second') + garbage, 3, 10_000);
    t.same(answers.map(statusOf), [200, 200, 400], `${JSON.stringify(garbage)}: both answered, then 400`);
    t.same(answers.slice(0, 2).map(bodyOf), ['/first', '/second']);
    await c.send('', 1, 3000);
    t.ok(c.closed, 'then the connection closes');
  }
  const before = up.requests.length;
  const c = await rawClient(t, port);
  const broken = `POST /broken HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\nnothex\r\n`;
  const answers = await c.send(GET('/first') + broken, 2, 10_000);
  t.same(answers.map(statusOf), [200, 400], 'a pipelined request with a broken body: 400 after the first');
  t.equal(up.requests.length, before + 1, 'the broken request never reached the upstream');
});

bothPaths('12: one deadline for the first request head, from the accept', async (t, options) => {
  const up = await startUpstream(t);
  const { port } = await startProxy(t, table({ [HOST]: { upstreams: [up.origin] } }), {
    ...options,
    timeouts: { headerMs: 1000 },
  });
  const c = await rawClient(t, port);
  // Quiet for most of the header timeout, then a head that is never finished in time: the deadline is the
  // accept's, not restarted by the first byte (where the fast path hands over to node:http).
  await sleep(800);
  c.socket.write('GET / HTTP/1.1\r\nHost: ');
  await sleep(700);
  if (!c.closed) c.socket.write(`${HOST}\r\n\r\n`);
  const answers = await c.send('', 1, 3000);
  t.same(answers.map(statusOf), [408], 'a head completed 1.5 s after the accept is refused with 408');
  t.equal(up.requests.length, 0, 'and never forwarded');

  const idle = await rawClient(t, port);
  const [timeout] = await idle.send('', 1, 3000);
  t.equal(statusOf(timeout), 408, 'a connection that sends nothing gets 408 too');
});
