/**
 * HTTP/2's fast path (inbound/h2-fast.ts) under attack: flow control edge cases, resets, floods, shutdown and
 * random frames, each case a defect found once (or a property that held) and kept as a regression test.
 */
import { once } from 'node:events';
import type { RequestListener } from 'node:http';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import t, { type Test } from 'tap';
import type { ProxyOptions } from '../../src/index.js';
import { startTlsFront } from '../h2-client.js';
import { ERROR, FRAME, frame, get, PREFACE, RawH2, settings } from '../h2-raw.js';
import { startUpstream, waitFor } from '../helpers.js';

const A = 'a.test';

async function front(t: Test, handler?: RequestListener, options: ProxyOptions = {}) {
  const up = await startUpstream(t, handler);
  return { up, front: await startTlsFront(t, { [A]: up.origin }, options) };
}

const sent = (c: RawH2, id: number) => (c.bodies.get(id) ?? []).reduce((n, b) => n + b.length, 0);

t.test(
  'a stream window of 0 raised by SETTINGS_INITIAL_WINDOW_SIZE lets the response go on (§6.9.2)',
  async (t) => {
    const body = Buffer.alloc(20_000, 'w');
    const { front: f } = await front(t, (_req, res) => res.end(body));
    const c = await RawH2.connect(t, f, A, [[4, 0]]);
    c.send(frame(FRAME.HEADERS, 0x5, 1, get(A)));
    await c.next((x) => x.type === FRAME.HEADERS && x.id === 1);
    await new Promise((r) => setTimeout(r, 100));
    t.equal(sent(c, 1), 0, 'no DATA into a window of 0');
    c.send(settings([[4, 65_535]]));
    const res = await c.response(1, 3000);
    t.equal(res.body.length, body.length, 'the whole body once the window opened');
  },
);

t.test('a client that keeps its side open after the idle GOAWAY does not keep the session', async (t) => {
  const { front: f } = await front(t, undefined, { timeouts: { keepAliveMs: 300 } });
  const options: ConnectionOptions & { allowHalfOpen: boolean } = {
    host: '127.0.0.1',
    port: f.tlsPort,
    servername: A,
    ca: f.ca.certPem,
    ALPNProtocols: ['h2'],
    allowHalfOpen: true,
  };
  const socket = tlsConnect(options);
  t.teardown(() => socket.destroy());
  socket.on('error', () => {});
  socket.on('data', () => {});
  await once(socket, 'secureConnect');
  socket.write(Buffer.concat([PREFACE, settings()]));
  await waitFor(() => f.proxy.h2!.sessions === 1, 3000, 'the session');
  // The proxy says GOAWAY after 300 ms of idleness; this client never ends its side.
  await waitFor(() => f.proxy.h2!.sessions === 0, 4000, 'the idle session to be gone');
  t.equal(f.proxy.stats().openConnections, 0);
});

t.test(
  'requests that only earn a RST_STREAM (malformed, CVE-2019-9514 reset flood) end the connection',
  async (t) => {
    const { up, front: f } = await front(t);
    const c = await RawH2.connect(t, f, A);
    // :method GET and :scheme https from the static table, and nothing else: no :path, malformed.
    const malformed = Buffer.from([0x82, 0x87]);
    const frames: Buffer[] = [];
    for (let id = 1; id < 2 * 2000; id += 2) frames.push(frame(FRAME.HEADERS, 0x5, id, malformed));
    c.send(...frames);
    t.equal(RawH2.code(await c.goaway()), ERROR.ENHANCE_YOUR_CALM);
    t.equal(up.requests.length, 0);
  },
);

t.test('PRIORITY frames of the wrong length, each answered by a RST_STREAM, are a flood too', async (t) => {
  const { front: f } = await front(t);
  const c = await RawH2.connect(t, f, A);
  const frames: Buffer[] = [];
  for (let i = 0; i < 2000; i++) frames.push(frame(FRAME.PRIORITY, 0, 1, Buffer.alloc(4)));
  c.send(...frames);
  await c.goaway();
  t.ok(c.frames.filter((x) => x.type === FRAME.RST_STREAM).length <= 1000, 'not one RST_STREAM for each');
});
