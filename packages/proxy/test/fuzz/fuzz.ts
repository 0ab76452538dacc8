/**
 * Seeded fuzzer for the two request paths (issue #10): valid requests and upstream responses, mutated the ways a
 * client or an application may legally vary them (header order, case and whitespace, duplicates, framing, splits
 * down to single bytes, pipelining, slow and vanishing peers), run through a nodix proxy with its fast path and
 * one without, each in front of a raw upstream, several clients at a time over a small upstream pool.
 *
 * Asserts, per scenario (one client connection):
 * - no crash: no internal error logged, no uncaught exception, both proxies still answer at the end;
 * - no response to the wrong client: every request carries a unique id that the upstream echoes; a response with
 *   an id is the answer to the request at its position on this connection;
 * - no request framed differently by the two paths: what the upstream received and what the client read agree;
 * - no stalled connection: a client that did not vanish gets all its responses or a close within a bound.
 *
 * Everything derives from the seed: scenario i is generated from (seed, i) alone and the upstream's answer from
 * the request id alone, so `--seed S --replay i` re-runs one scenario exactly.
 */
import { connect, type Socket } from 'node:net';
import {
  type ClientOutcome,
  clientAddress,
  type FrontEnd,
  RawUpstream,
  runClient,
  type Script,
  sleep,
  startNodix,
  type Teardown,
  type UpRecord,
  type UpRequest,
} from '../conformance/harness.js';

/** mulberry32: a small, fast, well-mixed 32-bit PRNG; `() => [0, 1)`. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit hash of a string (FNV-1a), to seed per-scenario and per-request generators. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

type Rnd = () => number;
const int = (rnd: Rnd, n: number) => Math.floor(rnd() * n);
const pick = <T>(rnd: Rnd, items: readonly T[]): T => items[int(rnd, items.length)]!;
function shuffle<T>(rnd: Rnd, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = int(rnd, i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
const randomCase = (rnd: Rnd, name: string) =>
  pick(rnd, [
    name,
    name.toLowerCase(),
    name.toUpperCase(),
    [...name].map((c) => (rnd() < 0.5 ? c.toUpperCase() : c.toLowerCase())).join(''),
  ]);
/** Optional whitespace as RFC 9110 allows it: SP and HTAB before the value, SP after it. */
const ows = (rnd: Rnd) => pick(rnd, ['', ' ', ' ', '  ', '\t', ' \t']);

export interface Scenario {
  index: number;
  chunks: string[];
  methods: string[];
  ids: string[];
  gapMs: number;
  /** Bytes written before the client goes away without reading (null: it stays). */
  vanishAt: number | null;
}

export interface FuzzOptions {
  seed: number;
  /** Stop after this many scenarios ... */
  scenarios?: number;
  /** ... or after this long, ms (whichever comes first). */
  durationMs?: number;
  /** Scenarios in flight at once (each on both paths). */
  concurrency?: number;
  /** Run only this scenario. */
  replay?: number;
  progress?: (line: string) => void;
}

export interface FuzzFailure {
  scenario: number;
  what: string;
  detail: string;
  reproducer: Scenario;
}

export interface FuzzResult {
  seed: number;
  scenarios: number;
  requests: number;
  failures: FuzzFailure[];
}

/** Scenario `index` of `seed`: one client connection with 1-3 requests. */
export function makeScenario(seed: number, index: number): Scenario {
  const rnd = mulberry32(hash(`${seed}/${index}`));
  const count = 1 + int(rnd, 3);
  const requests: string[] = [];
  const methods: string[] = [];
  const ids: string[] = [];
  for (let k = 0; k < count; k++) {
    const id = `${seed.toString(36)}.${index}.${k}`;
    const method = pick(rnd, ['GET', 'GET', 'GET', 'HEAD', 'POST', 'POST', 'PUT', 'DELETE', 'OPTIONS']);
    const http10 = rnd() < 0.1;
    const last = k === count - 1;
    const headers: string[][] = [
      [randomCase(rnd, 'Host'), pick(rnd, ['a.test', 'b.test', 'A.test'])],
      [randomCase(rnd, 'X-Fuzz-Id'), id],
    ];
    if (rnd() < 0.6) headers.push(['User-Agent', `fuzz/${int(rnd, 100)} (${'x'.repeat(int(rnd, 40))})`]);
    if (rnd() < 0.5)
      headers.push([randomCase(rnd, 'Accept'), pick(rnd, ['*/*', 'text/html,application/xhtml+xml;q=0.9'])]);
    if (rnd() < 0.4) headers.push(['Cookie', `s=${'c'.repeat(int(rnd, 300))}; t=${int(rnd, 1e6)}`]);
    for (let d = int(rnd, 3); d > 0; d--) headers.push([randomCase(rnd, 'X-Dup'), `${d}`]);
    if (http10 && !last) headers.push(['Connection', 'keep-alive']);
    if (!http10 && last && rnd() < 0.1) headers.push([randomCase(rnd, 'Connection'), 'close']);
    let body = '';
    if (method === 'POST' || method === 'PUT' || rnd() < 0.05) {
      // 16 KB and more: a body that outlasts the head's read and a pool socket's wait (#10 defect 1).
      const big = rnd() < 0.1;
      const size = big ? 16_384 + int(rnd, 30_000) : int(rnd, rnd() < 0.8 ? 300 : 5000);
      let content = Array.from({ length: size }, (_, i) => String.fromCharCode(97 + ((i * 7 + k) % 26))).join(
        '',
      );
      // A body that is or starts with CRLF: in one read with its head it ends in CRLF CRLF right after the head's.
      if (size >= 2 && rnd() < 0.05) content = `\r\n${content.slice(2)}`;
      if (!http10 && rnd() < 0.3) {
        headers.push([randomCase(rnd, 'Transfer-Encoding'), pick(rnd, ['chunked', 'Chunked'])]);
        let pos = 0;
        while (pos < content.length) {
          const n = Math.min(content.length - pos, 1 + int(rnd, 700));
          body += `${n.toString(16)}${rnd() < 0.1 ? ';ext=1' : ''}\r\n${content.slice(pos, pos + n)}\r\n`;
          pos += n;
        }
        body += rnd() < 0.1 ? '0\r\nX-Trailer: t\r\n\r\n' : '0\r\n\r\n';
      } else {
        headers.push([randomCase(rnd, 'Content-Length'), `${content.length}`]);
        body = content;
      }
    }
    shuffle(rnd, headers);
    const lines = headers.map(([n, v]) => `${n}:${ows(rnd)}${v}${rnd() < 0.1 ? ' ' : ''}\r\n`).join('');
    // Now and then an empty line after the request: RFC 9112 §2.2 has a server ignore it before the next one.
    const after = rnd() < 0.08 ? '\r\n' : '';
    requests.push(
      `${method} /f/${id}?q=${int(rnd, 1000)} HTTP/1.${http10 ? 0 : 1}\r\n${lines}\r\n${body}${after}`,
    );
    methods.push(method);
    ids.push(id);
    if (http10 && !headers.some(([n]) => n === 'Connection')) break;
  }
  // How the bytes go out: all at once (pipelined), request by request, or cut at random offsets / every byte.
  const all = requests.join('');
  let chunks: string[];
  const shape = rnd();
  if (shape < 0.35) chunks = [all];
  else if (shape < 0.6) chunks = requests.slice(0, methods.length);
  else if (shape < 0.95 || all.length > 600) {
    const cuts = [
      ...new Set(Array.from({ length: 1 + int(rnd, 4) }, () => 1 + int(rnd, all.length - 1))),
    ].sort((a, b) => a - b);
    chunks = [];
    let from = 0;
    for (const cut of [...cuts, all.length]) {
      chunks.push(all.slice(from, cut));
      from = cut;
    }
  } else chunks = [...all];
  return {
    index,
    chunks,
    methods: methods.slice(0, ids.length),
    ids,
    // A slow peer pauses between its writes (not between single bytes, which are slow enough).
    gapMs: rnd() < 0.2 && chunks.length < 10 ? int(rnd, 30) : 0,
    vanishAt: rnd() < 0.05 ? int(rnd, all.length + 1) : null,
  };
}

/** The upstream's answer to request `id`: derived from the id alone, so both paths get the same. */
export function fuzzResponse(req: UpRequest): Script & { vanish?: boolean } {
  const id = req.headers.find(([n]) => n.toLowerCase() === 'x-fuzz-id')?.[1] ?? '?';
  const rnd = mulberry32(hash(`response/${id}`));
  if (rnd() < 0.03) return { raw: '', close: true, vanish: true };
  const status = pick(rnd, [200, 200, 200, 201, 204, 304, 404, 500]);
  const noBody = req.method === 'HEAD' || status === 204 || status === 304;
  const content = `ID:${id}|${req.body.length}|${'r'.repeat(int(rnd, rnd() < 0.9 ? 200 : 20_000))}`;
  const headers = [
    [randomCase(rnd, 'X-Fuzz-Id'), id],
    ['Content-Type', 'text/plain'],
  ];
  if (rnd() < 0.3) headers.push([randomCase(rnd, 'Set-Cookie'), `k=${int(rnd, 100)}`], ['Set-Cookie', 'j=1']);
  const framing = noBody ? 'none' : pick(rnd, ['length', 'length', 'chunked', 'close']);
  // A server that closes after a framed response says so (RFC 9112 §9.6); one that closes without saying
  // races the proxy's next request on that connection, as it would race any client.
  const close = framing === 'close' || rnd() < 0.1;
  if (close && framing !== 'close') headers.push([randomCase(rnd, 'Connection'), 'close']);
  else if (rnd() < 0.2) headers.push(['Connection', 'x-hop'], ['X-Hop', '1']);
  let body = '';
  if (framing === 'length') {
    headers.push([randomCase(rnd, 'Content-Length'), `${content.length}`]);
    body = content;
  } else if (framing === 'chunked') {
    headers.push([randomCase(rnd, 'Transfer-Encoding'), 'chunked']);
    for (let pos = 0; pos < content.length; ) {
      const n = Math.min(content.length - pos, 1 + int(rnd, 4000));
      body += `${n.toString(16)}\r\n${content.slice(pos, pos + n)}\r\n`;
      pos += n;
    }
    body += '0\r\n\r\n';
  } else if (framing === 'close') {
    body = content;
  } else if (req.method === 'HEAD') {
    headers.push(['Content-Length', `${content.length}`]);
  }
  shuffle(rnd, headers);
  const raw = `HTTP/1.1 ${status} X\r\n${headers.map(([n, v]) => `${n}:${ows(rnd)}${v}\r\n`).join('')}\r\n${body}`;
  const splits = rnd() < 0.3 ? [1 + int(rnd, raw.length - 1)] : [];
  return { raw, close, delayMs: rnd() < 0.3 ? int(rnd, 20) : 0, splits };
}

/** What must be equal between the two paths for one scenario. */
/** A request id as the proxy makes them (observe/request-id.ts), shown on its error pages. */
const REQUEST_ID = /\b[0-9a-f]{8}-[0-9a-z]+\b/g;

function fuzzView(outcome: ClientOutcome, record: UpRecord | null, compareUpstream: boolean) {
  return {
    end: outcome.end,
    responses: outcome.responses
      .filter((r) => r.status >= 200)
      .map((r) => ({
        status: r.status,
        framing: r.framing === 'close' ? 'close' : 'framed',
        body: r.body.replace(REQUEST_ID, '<id>'),
      })),
    upstream: !compareUpstream
      ? '(not compared: an upstream connection vanished)'
      : (record?.requests ?? []).map((r) => ({
          line: `${r.method} ${r.target} ${r.version}`,
          // Each path makes its own X-Request-Id: that one is sent is compared, not its value.
          headers: r.headers.map(([n, v]) => `${n}: ${n.toLowerCase() === 'x-request-id' ? '<id>' : v}`),
          body: r.body,
        })),
  };
}

/** A client that writes `upTo` bytes of the scenario and goes away without reading. */
async function vanish(port: number, scenario: Scenario, localAddress: string): Promise<void> {
  const socket: Socket = connect({ port, host: '127.0.0.1', localAddress });
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(scenario.chunks.join('').slice(0, scenario.vanishAt ?? 0), 'latin1');
  await sleep(scenario.index % 7);
  socket.destroy();
}

export async function runFuzz(t: Teardown, options: FuzzOptions): Promise<FuzzResult> {
  const { seed } = options;
  const failures: FuzzFailure[] = [];
  const logs: string[] = [];
  const fronts: FrontEnd[] = [];
  const vanished = new Set<string>();
  for (const fast of [true, false]) {
    const upstream = new RawUpstream();
    await upstream.listen();
    t.teardown(() => upstream.close());
    upstream.respond = (req) => {
      const script = fuzzResponse(req);
      if (script.vanish) vanished.add(req.headers.find(([n]) => n.toLowerCase() === 'x-fuzz-id')?.[1] ?? '');
      return script;
    };
    fronts.push(
      await startNodix(t, upstream, fast, {
        log: (line) => logs.push(line),
        // Clients share 3 upstream sockets: requests queue for one, with their bodies arriving meanwhile.
        limits: { maxUpstreamConnections: 3 },
        timeouts: { keepAliveMs: 3000 },
      }),
    );
  }
  const onUncaught = (err: Error) => {
    failures.push({
      scenario: -1,
      what: 'uncaught exception',
      detail: String(err.stack ?? err),
      reproducer: makeScenario(seed, 0),
    });
  };
  process.on('uncaughtException', onUncaught);
  t.teardown(() => process.off('uncaughtException', onUncaught));

  const started = Date.now();
  const limit = options.scenarios ?? Number.POSITIVE_INFINITY;
  const deadline = started + (options.durationMs ?? Number.POSITIVE_INFINITY);
  let next = options.replay ?? 0;
  const last = options.replay === undefined ? limit : options.replay + 1;
  let done = 0;
  let requests = 0;
  const fail = (scenario: Scenario, what: string, detail: string) =>
    failures.push({ scenario: scenario.index, what, detail, reproducer: scenario });

  const runOne = async (index: number) => {
    const scenario = makeScenario(seed, index);
    const address = clientAddress(index % 62_500, 30 + (Math.floor(index / 62_500) % 200));
    if (scenario.vanishAt !== null) {
      await Promise.all(fronts.map((f) => vanish(f.port, scenario, address)));
    } else {
      const outcomes = await Promise.all(
        fronts.map((f) =>
          runClient(f.port, {
            chunks: scenario.chunks,
            methods: scenario.methods,
            gapMs: scenario.gapMs,
            // Bounded: a connection that is still waiting after this is stalled. Generous, so that a loaded
            // machine (CI runs test files two at a time on two cores) is never taken for a stall.
            capMs: 10_000 + scenario.chunks.length * (scenario.gapMs + 20),
            localAddress: address,
            ...(f.readBy ? { readBy: f.readBy } : {}),
          }),
        ),
      );
      requests += scenario.ids.length;
      // The upstream may still be reading what a client sent after its last response.
      await sleep(20);
      // One request at a time per connection, in order: what the upstream got is compared for every scenario
      // but one whose upstream connection vanished (what reached it before then is timing).
      const compareUpstream = !scenario.ids.some((id) => vanished.has(id));
      const views = outcomes.map((o, f) => {
        const name = fronts[f]!.name;
        if (o.end === 'timeout')
          fail(scenario, `stalled connection (${name} path)`, JSON.stringify(o).slice(0, 2000));
        o.responses
          .filter((r) => r.status >= 200)
          .forEach((r, position) => {
            const echoed = r.headers.find(([n]) => n.toLowerCase() === 'x-fuzz-id')?.[1];
            if (echoed !== undefined && echoed !== scenario.ids[position])
              fail(
                scenario,
                `response to the wrong client (${name} path)`,
                `request ${scenario.ids[position]} got the answer to ${echoed}`,
              );
          });
        return fuzzView(o, fronts[f]!.upstream.records.get(address) ?? null, compareUpstream);
      });
      const [fast, node] = views.map((v) => JSON.stringify(v));
      if (fast !== node)
        fail(
          scenario,
          'the two paths disagree',
          `fast: ${fast!.slice(0, 1500)}\nnode: ${node!.slice(0, 1500)}`,
        );
    }
    for (const f of fronts) f.upstream.records.delete(address);
    for (const id of scenario.ids) vanished.delete(id);
    done++;
  };

  const concurrency = options.concurrency ?? 6;
  let lastReport = Date.now();
  const worker = async () => {
    while (next < last && Date.now() < deadline && failures.length === 0) {
      const index = next++;
      await runOne(index);
      if (options.progress && Date.now() - lastReport >= 2000) {
        lastReport = Date.now();
        options.progress(
          `fuzz: ${done} scenarios, ${requests} requests, ${((Date.now() - started) / 1000).toFixed(0)} s`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));

  for (const line of logs) {
    if (/internal error/i.test(line))
      failures.push({
        scenario: -1,
        what: 'internal error logged',
        detail: line,
        reproducer: makeScenario(seed, 0),
      });
  }
  // Both proxies still serve.
  for (const f of fronts) {
    const probe = await runClient(f.port, {
      chunks: ['GET /alive HTTP/1.1\r\nHost: a.test\r\nX-Fuzz-Id: probe\r\n\r\n'],
      methods: ['GET'],
      capMs: 5000,
    });
    if (probe.responses.length === 0)
      failures.push({
        scenario: -1,
        what: `${f.name} path no longer answers`,
        detail: JSON.stringify(probe),
        reproducer: makeScenario(seed, 0),
      });
  }
  return { seed, scenarios: done, requests, failures };
}
