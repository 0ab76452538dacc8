/**
 * HTTP/2's fast path (inbound/h2-fast.ts) at the frame level: a raw client (h2-raw.ts) sends what RFC 9113
 * allows and what it forbids, over a real TLS connection to a real proxy, and reads the frames that come back.
 * Each case names the section it holds the proxy to.
 */
import type { RequestListener } from 'node:http';
import { connect } from 'node:http2';
import t, { type Test } from 'tap';
import { h2Request, startTlsFront } from '../h2-client.js';
import { block, ERROR, FRAME, frame, get, PREFACE, RawH2, settings, u32 } from '../h2-raw.js';
import { digest, startUpstream, waitFor } from '../helpers.js';

const A = 'a.test';

async function front(t: Test, handler?: RequestListener) {
  const up = await startUpstream(t, handler);
  return { up, front: await startTlsFront(t, { [A]: up.origin }) };
}

t.test('the connection starts with SETTINGS both ways; PING is answered with its payload', async (t) => {
  const { front: f } = await front(t);
  const c = await RawH2.connect(t, f, A);
  const ours = await c.next((x) => x.type === FRAME.SETTINGS && x.flags === 0);
  const entries = new Map<number, number>();
  for (let i = 0; i < ours.payload.length; i += 6)
    entries.set(ours.payload.readUInt16BE(i), ours.payload.readUInt32BE(i + 2));
  t.equal(entries.get(3), 128, 'SETTINGS_MAX_CONCURRENT_STREAMS');
  t.equal(entries.get(4), 65_535, 'SETTINGS_INITIAL_WINDOW_SIZE');
  t.equal(entries.get(2), 0, 'no push');
  await c.next((x) => x.type === FRAME.SETTINGS && x.flags === 1);
  c.send(frame(FRAME.PING, 0, 0, Buffer.from('01234567')));
  const pong = await c.next((x) => x.type === FRAME.PING);
  t.equal(pong.flags, 1, 'ACK');
  t.equal(pong.payload.toString(), '01234567');
  c.send(frame(FRAME.HEADERS, 0x5, 1, get(A, '/one')));
  const res = await c.response(1);
  t.equal(res.status, 200);
  t.equal(JSON.parse(res.body.toString()).url, '/one');
});

t.test('connection errors end the connection with GOAWAY and the right code (RFC 9113 §5.4.1)', async (t) => {
  const { front: f } = await front(t);
  const cases: [string, Buffer[], number, boolean?][] = [
    ['a bad preface', [Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n')], ERROR.PROTOCOL_ERROR, true],
    [
      'a first frame other than SETTINGS (§3.4)',
      [frame(FRAME.PING, 0, 0, Buffer.alloc(8))],
      ERROR.PROTOCOL_ERROR,
    ],
    [
      'SETTINGS of a length not a multiple of 6',
      [frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(5))],
      ERROR.FRAME_SIZE_ERROR,
    ],
    ['SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1', [settings([[4, 0x80000000]])], ERROR.FLOW_CONTROL_ERROR],
    ['SETTINGS_MAX_FRAME_SIZE below 16384', [settings([[5, 100]])], ERROR.PROTOCOL_ERROR],
    ['SETTINGS_ENABLE_PUSH 2', [settings([[2, 2]])], ERROR.PROTOCOL_ERROR],
    ['a stream id that is even', [frame(FRAME.HEADERS, 0x5, 2, get(A))], ERROR.PROTOCOL_ERROR],
    ['DATA on stream 0', [frame(FRAME.DATA, 0, 0, Buffer.from('x'))], ERROR.PROTOCOL_ERROR],
    ['DATA on a stream never opened', [frame(FRAME.DATA, 0, 9, Buffer.from('x'))], ERROR.PROTOCOL_ERROR],
    ['PUSH_PROMISE from a client', [frame(FRAME.PUSH_PROMISE, 4, 1, Buffer.alloc(4))], ERROR.PROTOCOL_ERROR],
    ['a connection WINDOW_UPDATE of 0', [frame(FRAME.WINDOW_UPDATE, 0, 0, u32(0))], ERROR.PROTOCOL_ERROR],
    [
      'a connection window past 2^31-1',
      [frame(FRAME.WINDOW_UPDATE, 0, 0, u32(0x7fffffff))],
      ERROR.FLOW_CONTROL_ERROR,
    ],
    ['a PING of 7 bytes', [frame(FRAME.PING, 0, 0, Buffer.alloc(7))], ERROR.FRAME_SIZE_ERROR],
    [
      'a frame larger than SETTINGS_MAX_FRAME_SIZE',
      [frame(FRAME.DATA, 0, 1, Buffer.alloc(16_385))],
      ERROR.FRAME_SIZE_ERROR,
    ],
    ['RST_STREAM on an idle stream', [frame(FRAME.RST_STREAM, 0, 5, u32(8))], ERROR.PROTOCOL_ERROR],
    [
      'a frame between HEADERS and its CONTINUATION',
      [frame(FRAME.HEADERS, 0x1, 1, get(A)), frame(FRAME.PING, 0, 0, Buffer.alloc(8))],
      ERROR.PROTOCOL_ERROR,
    ],
    [
      'a CONTINUATION for another stream',
      [
        frame(FRAME.HEADERS, 0x1, 1, get(A).subarray(0, 4)),
        frame(FRAME.CONTINUATION, 0x4, 3, get(A).subarray(4)),
      ],
      ERROR.PROTOCOL_ERROR,
    ],
    [
      'an HPACK index beyond the tables',
      [frame(FRAME.HEADERS, 0x5, 1, Buffer.from([0xff, 0x7f]))],
      ERROR.COMPRESSION_ERROR,
    ],
  ];
  for (const [what, bytes, code, ownStart = false] of cases) {
    const c = await RawH2.connect(t, f, A, [], false);
    // The first frame after the preface must be SETTINGS: the cases about the start send their own.
    const start =
      what.startsWith('a first frame') || what.startsWith('SETTINGS') ? [PREFACE] : [PREFACE, settings()];
    c.send(...(ownStart ? [] : start), ...bytes);
    if (ownStart) {
      // Not HTTP/2 at all: the connection ends.
      await c.closedWithin();
      t.pass(`${what}: closed`);
      continue;
    }
    const goaway = await c.goaway();
    t.equal(RawH2.code(goaway), code, what);
    await c.closedWithin();
  }
});

t.test('stream errors reset one stream and the connection goes on (RFC 9113 §5.4.2, §8.1.1)', async (t) => {
  const { up, front: f } = await front(t);
  const c = await RawH2.connect(t, f, A);
  const base: [string, string][] = [
    [':method', 'GET'],
    [':scheme', 'https'],
    [':authority', A],
    [':path', '/'],
  ];
  const cases: [string, [string, string][]][] = [
    ['an uppercase field name', [...base, ['X-Upper', '1']]],
    ['a field name with a space', [...base, ['bad name', '1']]],
    ['a connection-specific field', [...base, ['connection', 'keep-alive']]],
    ['transfer-encoding', [...base, ['transfer-encoding', 'chunked']]],
    ['te other than trailers', [...base, ['te', 'gzip']]],
    ['a value with LF', [...base, ['x-a', 'a\nb']]],
    ['a value with a leading space', [...base, ['x-a', ' a']]],
    ['no :path', base.filter(([n]) => n !== ':path')],
    ['an empty :path', [...base.filter(([n]) => n !== ':path'), [':path', '']]],
    ['two :method', [...base, [':method', 'GET']]],
    ['an unknown pseudo-header', [...base, [':protocol', 'websocket']]],
    [
      'a pseudo-header after a regular field',
      [
        [':method', 'GET'],
        ['x-a', '1'],
        [':scheme', 'https'],
        [':authority', A],
        [':path', '/'],
      ],
    ],
    ['a non-numeric content-length', [...base, ['content-length', '1x']]],
  ];
  let id = 1;
  for (const [what, fields] of cases) {
    c.send(frame(FRAME.HEADERS, 0x5, id, block(fields)));
    t.equal(RawH2.code(await c.rst(id)), ERROR.PROTOCOL_ERROR, what);
    id += 2;
  }
  t.equal(up.requests.length, 0, 'no malformed request reached the upstream');
  c.send(frame(FRAME.HEADERS, 0x5, id, get(A, '/after')));
  t.equal((await c.response(id)).status, 200, 'the connection is still good');
});

t.test(
  'a body that does not add up to its content-length is reset, and the upstream sees it cut',
  async (t) => {
    const outcomes: string[] = [];
    const { up, front: f } = await front(t, (req, res) => {
      req.on('close', () => outcomes.push(`${req.url} ${req.complete ? 'complete' : 'cut'}`));
      req.resume();
      req.on('end', () => res.end('read'));
    });
    const c = await RawH2.connect(t, f, A);
    c.send(frame(FRAME.HEADERS, 0x4, 1, get(A, '/short', [['content-length', '10']])));
    c.send(frame(FRAME.DATA, 0x1, 1, Buffer.from('12345')));
    t.equal(RawH2.code(await c.rst(1)), ERROR.PROTOCOL_ERROR, 'less than declared');
    c.send(frame(FRAME.HEADERS, 0x4, 3, get(A, '/long', [['content-length', '2']])));
    c.send(frame(FRAME.DATA, 0x1, 3, Buffer.from('12345')));
    t.equal(RawH2.code(await c.rst(3)), ERROR.PROTOCOL_ERROR, 'more than declared');
    c.send(frame(FRAME.HEADERS, 0x5, 5, get(A, '/ended', [['content-length', '4']])));
    t.equal(
      RawH2.code(await c.rst(5)),
      ERROR.PROTOCOL_ERROR,
      'a content-length on a stream its HEADERS ended',
    );
    // A reset that came before the upstream connection was made leaves nothing upstream; the rest are cut.
    await new Promise((r) => setTimeout(r, 300));
    t.equal(outcomes.length, up.requests.length, 'every request that reached the upstream has ended');
    t.notOk(
      outcomes.some((o) => o.endsWith('complete')),
      'no truncated body was taken for a complete one',
    );
    c.send(frame(FRAME.HEADERS, 0x4, 7, get(A, '/fine', [['content-length', '3']])));
    c.send(frame(FRAME.DATA, 0x1, 7, Buffer.from('abc')));
    t.equal((await c.response(7)).body.toString(), 'read');
  },
);

t.test('header blocks over CONTINUATION, padding and priority are read; trailers end the body', async (t) => {
  const { front: f } = await front(t, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.end(digest(Buffer.concat(chunks))));
  });
  const c = await RawH2.connect(t, f, A);
  const head = get(A, '/split', [['x-long', 'v'.repeat(3000)]]);
  c.send(
    frame(FRAME.HEADERS, 0x1, 1, head.subarray(0, 10)),
    frame(FRAME.CONTINUATION, 0, 1, head.subarray(10, 2000)),
    frame(FRAME.CONTINUATION, 0x4, 1, head.subarray(2000)),
  );
  t.equal((await c.response(1)).status, 200, 'three fragments');
  // PADDED (pad length 3) and PRIORITY (5 bytes) flags on HEADERS, a padded DATA, then trailers.
  const padded = Buffer.concat([
    Buffer.from([3]),
    Buffer.from([0, 0, 0, 0, 16]),
    get(A, '/p'),
    Buffer.alloc(3),
  ]);
  c.send(frame(FRAME.HEADERS, 0x4 | 0x8 | 0x20, 3, padded));
  c.send(frame(FRAME.DATA, 0x8, 3, Buffer.concat([Buffer.from([2]), Buffer.from('body'), Buffer.alloc(2)])));
  c.send(frame(FRAME.HEADERS, 0x5, 3, block([['x-trailer', '1']])));
  const res = await c.response(3);
  t.equal(res.status, 200);
  t.equal(res.body.toString(), digest(Buffer.from('body')), 'padding is not body');
  c.send(frame(FRAME.PRIORITY, 0, 5, Buffer.from([0, 0, 0, 0, 1])));
  c.send(frame(FRAME.HEADERS, 0x5, 7, get(A)));
  t.equal((await c.response(7)).status, 200, 'PRIORITY frames are read and ignored');
});

t.test('floods end the connection with ENHANCE_YOUR_CALM', async (t) => {
  const { front: f } = await front(t, () => {
    /* never answers: every stream stays in flight */
  });
  const resetter = await RawH2.connect(t, f, A);
  const frames: Buffer[] = [];
  for (let id = 1; id < 2 * 400; id += 2) {
    frames.push(
      frame(FRAME.HEADERS, 0x5, id, get(A)),
      frame(FRAME.RST_STREAM, 0, id, u32(ERROR.INTERNAL_ERROR + 6)),
    );
  }
  resetter.send(...frames);
  t.equal(RawH2.code(await resetter.goaway()), ERROR.ENHANCE_YOUR_CALM, 'rapid reset (CVE-2023-44487)');

  const continuation = await RawH2.connect(t, f, A);
  continuation.send(frame(FRAME.HEADERS, 0x0, 1, get(A)));
  for (let i = 0; i < 10; i++)
    continuation.send(frame(FRAME.CONTINUATION, 0, 1, block([['x-a', 'b'.repeat(16_000)]])));
  t.equal(RawH2.code(await continuation.goaway()), ERROR.ENHANCE_YOUR_CALM, 'a header block without end');

  const empty = await RawH2.connect(t, f, A);
  empty.send(frame(FRAME.HEADERS, 0x4, 1, get(A)));
  const zeros: Buffer[] = [];
  for (let i = 0; i < 1100; i++) zeros.push(frame(FRAME.DATA, 0, 1));
  empty.send(...zeros);
  t.equal(RawH2.code(await empty.goaway()), ERROR.ENHANCE_YOUR_CALM, 'empty DATA frames');
});

t.test('more streams than SETTINGS_MAX_CONCURRENT_STREAMS are refused, the rest answered', async (t) => {
  const release: (() => void)[] = [];
  const up = await startUpstream(t, (_req, res) => release.push(() => res.end('ok')));
  const f = await startTlsFront(t, { [A]: up.origin }, { h2: { maxConcurrentStreams: 2 } });
  const c = await RawH2.connect(t, f, A);
  c.send(
    frame(FRAME.HEADERS, 0x5, 1, get(A)),
    frame(FRAME.HEADERS, 0x5, 3, get(A)),
    frame(FRAME.HEADERS, 0x5, 5, get(A)),
  );
  t.equal(RawH2.code(await c.rst(5)), ERROR.REFUSED_STREAM);
  await waitFor(() => release.length === 2, 3000, 'two requests upstream');
  for (const r of release) r();
  t.equal((await c.response(1)).body.toString(), 'ok');
  t.equal((await c.response(3)).body.toString(), 'ok');
});

t.test(
  'flow control: a response waits for the client windows, a request body for the upstream',
  async (t) => {
    const big = Buffer.alloc(300_000, 'z');
    const { front: f } = await front(t, (req, res) => {
      if (req.url === '/big') return res.end(big);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(digest(Buffer.concat(chunks))));
    });
    // A client window of 1000 bytes per stream (and the connection's own 65535).
    const c = await RawH2.connect(t, f, A, [[4, 1000]]);
    c.send(frame(FRAME.HEADERS, 0x5, 1, get(A, '/big')));
    await c.next((x) => x.type === FRAME.DATA && x.id === 1);
    await new Promise((r) => setTimeout(r, 200));
    const sent = () => (c.bodies.get(1) ?? []).reduce((n, b) => n + b.length, 0);
    t.equal(sent(), 1000, 'no more DATA than the stream window');
    let credited = 1000;
    while (sent() < big.length) {
      const before = sent();
      c.send(frame(FRAME.WINDOW_UPDATE, 0, 1, u32(50_000)), frame(FRAME.WINDOW_UPDATE, 0, 0, u32(50_000)));
      credited += 50_000;
      await waitFor(() => sent() > before || sent() === big.length, 3000, 'more DATA');
      await new Promise((r) => setTimeout(r, 20));
      t.ok(sent() <= Math.min(credited, 65_535 + credited - 1000), 'within the windows');
    }
    const res = await c.response(1);
    t.equal(digest(res.body), digest(big), 'the whole body, in order');

    // Upload more than the proxy's stream window (65535): the proxy credits it back as the upstream reads.
    const upload = Buffer.alloc(500_000, 'u');
    c.send(frame(FRAME.HEADERS, 0x4, 3, get(A, '/up')));
    let at = 0;
    let window = 65_535;
    const credits = () =>
      c.frames
        .filter((x) => x.type === FRAME.WINDOW_UPDATE && x.id === 3)
        .reduce((n, x) => n + x.payload.readUInt32BE(0), 0);
    while (at < upload.length) {
      await waitFor(() => window + credits() - at > 0, 5000, 'a stream WINDOW_UPDATE');
      const n = Math.min(16_384, window + credits() - at, upload.length - at);
      c.send(frame(FRAME.DATA, at + n === upload.length ? 1 : 0, 3, upload.subarray(at, at + n)));
      at += n;
    }
    t.equal((await c.response(3)).body.toString(), digest(upload));
    void window;
    window = 0;
  },
);

t.test('a header list over the limit is answered 431; the connection and HPACK stay in step', async (t) => {
  const { up, front: f } = await front(t);
  const c = await RawH2.connect(t, f, A);
  const huge: [string, string][] = [];
  for (let i = 0; i < 4; i++) huge.push([`x-big-${i}`, 'h'.repeat(8000)]);
  const fields = block([
    [':method', 'GET'],
    [':scheme', 'https'],
    [':authority', A],
    [':path', '/'],
    ...huge,
  ]);
  const parts: Buffer[] = [];
  for (let at = 0; at < fields.length; at += 16_000) {
    const end = Math.min(at + 16_000, fields.length);
    parts.push(
      frame(
        at === 0 ? FRAME.HEADERS : FRAME.CONTINUATION,
        (end === fields.length ? 4 : 0) | (at === 0 ? 1 : 0),
        1,
        fields.subarray(at, end),
      ),
    );
  }
  c.send(...parts);
  t.equal((await c.response(1)).status, 431);
  t.equal(up.requests.length, 0);
  c.send(frame(FRAME.HEADERS, 0x5, 3, get(A)));
  t.equal((await c.response(3)).status, 200);
});

t.test(
  'an idle connection is closed with GOAWAY NO_ERROR; shutdown lets a stream in flight finish',
  async (t) => {
    let release: () => void = () => {};
    const up = await startUpstream(t, (_req, res) => {
      release = () => res.end('late');
    });
    const f = await startTlsFront(t, { [A]: up.origin }, { timeouts: { keepAliveMs: 300 } });
    const idle = await RawH2.connect(t, f, A);
    t.equal(RawH2.code(await idle.goaway(3000)), ERROR.NO_ERROR, 'idle');
    await idle.closedWithin();

    // Frames read count as activity (nginx's idle timeout works the same way): PINGs every 100 ms keep it open.
    const pinging = await RawH2.connect(t, f, A);
    for (let i = 0; i < 8; i++) {
      pinging.send(frame(FRAME.PING, 0, 0, Buffer.alloc(8, i)));
      await new Promise((r) => setTimeout(r, 100));
    }
    t.notOk(pinging.closed, 'open after 800 ms of PINGs');
    t.notOk(
      pinging.frames.some((x) => x.type === FRAME.GOAWAY),
      'no GOAWAY while frames come',
    );
    t.equal(RawH2.code(await pinging.goaway(3000)), ERROR.NO_ERROR, 'idle once they stop');

    const busy = await RawH2.connect(t, f, A);
    busy.send(frame(FRAME.HEADERS, 0x5, 1, get(A)));
    await waitFor(() => up.requests.length === 1, 3000, 'the request upstream');
    await new Promise((r) => setTimeout(r, 600));
    t.notOk(busy.closed, 'a connection with a stream in flight is not idle');
    const closing = f.proxy.close({ timeoutMs: 5000 });
    const goaway = await busy.goaway();
    t.equal(RawH2.code(goaway), ERROR.NO_ERROR);
    t.equal(goaway.payload.readUInt32BE(0), 1, 'last stream id: the one in flight');
    release();
    t.equal((await busy.response(1)).body.toString(), 'late');
    await closing;
    await busy.closedWithin();
  },
);

t.test(
  'a client that shrinks the HPACK table gets a size update first (RFC 7541 §4.2): nghttp2 insists',
  async (t) => {
    const { front: f } = await front(t);
    const session = connect(`https://127.0.0.1:${f.tlsPort}`, {
      ca: f.ca.certPem,
      servername: A,
      settings: { headerTableSize: 0 },
    });
    session.on('error', () => {});
    t.teardown(() => session.destroy());
    for (const path of ['/one', '/two']) {
      const res = await Promise.race([
        h2Request(session, { ':path': path, ':authority': A }),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no response')), 3000).unref()),
      ]);
      t.equal(res.status, 200, path);
    }
  },
);

t.test(
  'a client that never opens its window holds its stream no longer than the upstream body timeout',
  async (t) => {
    const up = await startUpstream(t, (req, res) =>
      res.end(req.url === '/stuck' ? Buffer.alloc(200_000, 'w') : 'next'),
    );
    const f = await startTlsFront(t, { [A]: up.origin }, { timeouts: { upstreamBodyMs: 300 } });
    // A stream window of 0: not one byte of DATA may go out until a WINDOW_UPDATE, which never comes.
    const c = await RawH2.connect(t, f, A, [[4, 0]]);
    c.send(frame(FRAME.HEADERS, 0x5, 1, get(A, '/stuck')));
    await c.next((x) => x.type === FRAME.HEADERS && x.id === 1);
    t.equal(RawH2.code(await c.rst(1, 3000)), ERROR.INTERNAL_ERROR, 'cut once the paused upstream timed out');
    t.notOk(c.bodies.has(1), 'no DATA went past the window');
    await waitFor(() => f.proxy.stats().inFlight === 0, 2000, 'nothing in flight');
    c.send(frame(FRAME.SETTINGS, 0, 0, Buffer.from([0, 4, 0, 0, 0xff, 0xff])));
    c.send(frame(FRAME.HEADERS, 0x5, 3, get(A, '/next')));
    t.equal((await c.response(3)).body.toString(), 'next', 'the connection goes on');
  },
);
