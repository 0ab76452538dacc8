/**
 * Regression tests for the HTTP/1.1 defects of issue #10, each run through both request paths: the fast path
 * (the default) and node:http (`fastPath: false`). The two must answer every case alike; raw sockets on both
 * sides show exactly what the client gets and what the upstream receives.
 */
import { createHash, randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import type { ProxyOptions } from '../../src/index.js';
import { rawClient, startProxy, startRawUpstream, startUpstream, table } from '../helpers.js';

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

/** An upstream that reads the whole body and answers its length and SHA-256. */
function digestUpstream(t: Test, delayMs = 0) {
  return startUpstream(t, (req, res) => {
    const hash = createHash('sha256');
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => setTimeout(() => res.end(`${length} ${hash.digest('hex')}`), delayMs));
  });
}
const digest = (body: Buffer) => `${body.length} ${createHash('sha256').update(body).digest('hex')}`;

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
