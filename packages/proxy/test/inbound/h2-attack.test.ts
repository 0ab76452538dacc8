/**
 * HTTP/2's fast path (inbound/h2-fast.ts) under attack: flow control edge cases, resets, floods, shutdown and
 * random frames, each case a defect found once (or a property that held) and kept as a regression test.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { RequestListener } from 'node:http';
import type { OutgoingHttpHeaders } from 'node:http2';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import t, { type Test } from 'tap';
import type { ProxyOptions } from '../../src/index.js';
import { h2Request, h2Session, startTlsFront } from '../h2-client.js';
import { ERROR, FRAME, frame, get, PREFACE, RawH2, settings, u32 } from '../h2-raw.js';
import { digest, startUpstream, waitFor } from '../helpers.js';

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

/** A small seeded PRNG (mulberry32): the same frames on every run. */
function prng(seed: number): (n: number) => number {
  let a = seed;
  return (n) => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return (((x ^ (x >>> 14)) >>> 0) % n) | 0;
  };
}

t.test('random frame sequences: no internal error, every session and request ends', async (t) => {
  const { front: f } = await front(t, (req, res) => {
    req.resume();
    const delay = req.url === '/slow' ? 200 : 0;
    setTimeout(() => res.end(Buffer.alloc(req.url === '/big' ? 100_000 : 10, 'r')), delay);
  });
  const paths = ['/', '/slow', '/big'];
  for (let round = 0; round < 30; round++) {
    const clients = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const r = prng(round * 10 + i + 1);
        const c = await RawH2.connect(t, f, A, r(2) === 0 ? [] : [[4, r(3) * 20_000]]);
        const frames: Buffer[] = [];
        for (let k = 0; k < 25; k++) {
          const id = 2 * r(6) + 1;
          const type = r(11);
          const flags = [0, 1, 4, 5, 8, 0x20, 0x2d][r(7)]!;
          let payload: Buffer;
          if (type === FRAME.HEADERS || type === FRAME.CONTINUATION) {
            const head = get(A, paths[r(3)]!);
            payload = r(4) === 0 ? head.subarray(0, r(head.length)) : head;
          } else if (type === FRAME.WINDOW_UPDATE || type === FRAME.RST_STREAM) payload = u32(r(100_000));
          else if (type === FRAME.SETTINGS)
            payload = r(2) === 0 ? Buffer.alloc(0) : Buffer.from([0, r(8), 0, 0, r(256), r(256)]);
          else if (type === FRAME.PING || type === FRAME.GOAWAY) payload = Buffer.alloc(8);
          else if (type === FRAME.PRIORITY) payload = Buffer.alloc(r(2) === 0 ? 5 : r(8));
          else payload = Buffer.alloc(r(3) === 0 ? 0 : r(20_000), 'd');
          if (payload.length > 16_384) payload = payload.subarray(0, 16_384);
          frames.push(frame(type, flags, r(10) === 0 ? 0 : id, payload));
        }
        c.send(...frames);
        return c;
      }),
    );
    await new Promise((r) => setTimeout(r, 50));
    // Half the clients go away at once, the rest read what they get and then go.
    for (const [i, c] of clients.entries()) if (i % 2 === 0) c.socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    for (const c of clients) c.socket.destroy();
  }
  await waitFor(() => f.proxy.h2!.sessions === 0, 5000, 'every session to end');
  await waitFor(() => f.proxy.stats().inFlight === 0, 5000, 'no request in flight');
  t.same(
    f.logs.filter((line) => line.includes('internal error')),
    [],
    'no internal error',
  );
  // The proxy still serves.
  const c = await RawH2.connect(t, f, A);
  c.send(frame(FRAME.HEADERS, 0x5, 1, get(A)));
  t.equal((await c.response(1)).status, 200);
});

t.test(
  'an upload past the stream window to a slow upstream: the client waits, the body arrives whole',
  async (t) => {
    const { front: f } = await front(t, (req, res) => {
      const hash = createHash('sha256');
      let n = 0;
      // A pause of 20 ms after every read: the client must be held back by its stream window, not buffered.
      req.on('data', (chunk: Buffer) => {
        n += chunk.length;
        hash.update(chunk);
        req.pause();
        setTimeout(() => req.resume(), 20);
      });
      req.on('end', () => res.end(`${n} ${hash.digest('hex')}`));
    });
    const session = await h2Session(t, f, A);
    for (const size of [0, 1, 16_383, 16_384, 16_385, 65_535, 65_536, 300_000]) {
      for (const withLength of [false, true]) {
        const body = randomBytes(size);
        const headers: OutgoingHttpHeaders = { ':method': 'POST', ':path': '/', ':authority': A };
        if (withLength) headers['content-length'] = size;
        const res = await h2Request(session, headers, body);
        t.equal(res.body.toString(), digest(body), `${size} bytes, content-length ${withLength}`);
      }
    }
    t.equal(f.proxy.stats().inFlight, 0);
  },
);

t.test('a client reset mid-upload and mid-download aborts the upstream request', async (t) => {
  const closed: string[] = [];
  const { up, front: f } = await front(t, (req, res) => {
    res.on('close', () => closed.push(`${req.url} ${res.writableFinished ? 'done' : 'cut'}`));
    if (req.url === '/down') {
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = () => {
        while (res.write(chunk));
      };
      res.on('drain', pump);
      pump();
      return;
    }
    if (req.url === '/fine') res.end('fine');
    else req.resume();
  });
  const c = await RawH2.connect(t, f, A);
  c.send(frame(FRAME.HEADERS, 0x4, 1, get(A, '/up')), frame(FRAME.DATA, 0, 1, Buffer.alloc(10_000)));
  c.send(frame(FRAME.HEADERS, 0x5, 3, get(A, '/down')));
  await waitFor(() => up.requests.length === 2 && sent(c, 3) >= 60_000, 5000, 'both exchanges under way');
  t.equal(f.proxy.stats().inFlight, 2);
  c.send(frame(FRAME.RST_STREAM, 0, 1, u32(ERROR.NO_ERROR + 8)), frame(FRAME.RST_STREAM, 0, 3, u32(8)));
  await waitFor(() => closed.length === 2, 5000, 'both upstream requests to end');
  t.same(closed.sort(), ['/down cut', '/up cut']);
  await waitFor(() => f.proxy.stats().inFlight === 0, 3000, 'nothing in flight');
  // Late frames for the reset streams are ignored; the connection goes on.
  c.send(frame(FRAME.DATA, 0, 1, Buffer.alloc(100)), frame(FRAME.WINDOW_UPDATE, 0, 3, u32(1000)));
  // The download took the connection window: give it back for the next response.
  c.send(frame(FRAME.WINDOW_UPDATE, 0, 0, u32(1 << 20)), frame(FRAME.HEADERS, 0x5, 5, get(A, '/fine')));
  t.equal((await c.response(5)).status, 200);
});

t.test('a client GOAWAY lets the streams in flight finish, then the connection ends', async (t) => {
  const release: (() => void)[] = [];
  const { front: f } = await front(t, (req, res) => release.push(() => res.end(`late ${req.url}`)));
  const c = await RawH2.connect(t, f, A);
  c.send(frame(FRAME.HEADERS, 0x5, 1, get(A, '/1')), frame(FRAME.HEADERS, 0x5, 3, get(A, '/3')));
  await waitFor(() => release.length === 2, 3000, 'both upstream');
  c.send(frame(FRAME.GOAWAY, 0, 0, Buffer.alloc(8)));
  await new Promise((r) => setTimeout(r, 100));
  t.notOk(c.closed, 'still open with streams in flight');
  for (const r of release) r();
  t.equal((await c.response(1)).body.toString(), 'late /1');
  t.equal((await c.response(3)).body.toString(), 'late /3');
  await c.closedWithin(3000);
  await waitFor(() => f.proxy.h2!.sessions === 0, 3000, 'the session to end');
});

t.test('a client that grants huge windows and stops reading pauses the upstream', async (t) => {
  let written = 0;
  const { front: f } = await front(t, (_req, res) => {
    res.writeHead(200);
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const pump = () => {
      // Bounded: 64 MiB at most.
      while (written < 64 * 1024 * 1024 && res.write(chunk)) written += chunk.length;
    };
    res.on('drain', () => {
      written += chunk.length;
      pump();
    });
    pump();
  });
  const c = await RawH2.connect(t, f, A, [[4, 0x7fffffff]]);
  c.send(frame(FRAME.WINDOW_UPDATE, 0, 0, u32(0x7fffffff - 65_535)), frame(FRAME.HEADERS, 0x5, 1, get(A)));
  await c.next((x) => x.type === FRAME.DATA && x.id === 1);
  c.socket.pause();
  await new Promise((r) => setTimeout(r, 500));
  const paused = written;
  await new Promise((r) => setTimeout(r, 500));
  t.ok(written === paused, `the upstream waits (${written} bytes written)`);
  t.ok(written < 32 * 1024 * 1024, 'what the proxy holds is bounded by its socket buffers');
  c.socket.resume();
  await waitFor(() => written > paused, 5000, 'the upstream to go on once the client reads');
});
