/**
 * Running a table of cases through the three front ends, and judging the results.
 *
 * Two views of what happened (an "observation": what the client read and what the upstream received):
 * - `exactView`, for fast path vs node:http path: everything, down to header order upstream and the proxy's own
 *   error pages; only the Date header and the way each path spells "keep-alive" are left out.
 * - `nginxView`, for nodix vs nginx: what matters to a client and to an application behind the proxy —
 *   request line, header multiset (names lower-cased, hop-by-hop and framing headers dropped), body bytes,
 *   statuses, and headers and bodies of responses that came from the upstream. The proxies' own error pages
 *   differ in wording by design and count as "a page with this status".
 */
import { createHash } from 'node:crypto';
import type { Test } from 'tap';
import {
  type ClientOutcome,
  type ClientPlan,
  clientAddress,
  echoResponse,
  type FrontEnd,
  inBatches,
  runClient,
  type Script,
  sleep,
  startNginx,
  startNodix,
  startUpstream,
  type UpRecord,
  type UpRequest,
} from './harness.js';

export type FrontName = FrontEnd['name'];
export const FRONTS: readonly FrontName[] = ['fast', 'node', 'nginx'];

export interface CaseRun {
  name: string;
  plan: Omit<ClientPlan, 'localAddress'>;
  /** How the upstream answers this case's requests. */
  script?: (req: UpRequest) => Script;
}

export interface Observation {
  client: ClientOutcome;
  upstream: UpRecord | null;
}

export type Observations = Map<string, Record<FrontName, Observation>>;

/** Runs every case through the three front ends (one upstream each), `concurrency` cases at a time. */
export async function runTable(t: Test, runs: readonly CaseRun[], concurrency = 40): Promise<Observations> {
  const byAddress = new Map(runs.map((run, i) => [clientAddress(i), run]));
  const fronts: FrontEnd[] = [];
  for (const name of FRONTS) {
    const upstream = await startUpstream(t);
    upstream.respond = (req, client) => byAddress.get(client)?.script?.(req) ?? echoResponse(req);
    fronts.push(
      name === 'nginx' ? await startNginx(t, upstream) : await startNodix(t, upstream, name === 'fast'),
    );
  }
  const clients = await inBatches([...runs], concurrency, async (run, i) => {
    const localAddress = clientAddress(i);
    return Promise.all(
      fronts.map((front) =>
        runClient(front.port, {
          ...run.plan,
          localAddress,
          ...(front.readBy ? { readBy: front.readBy } : {}),
        }),
      ),
    );
  });
  // Whatever the front ends were still passing on when the clients gave up arrives now.
  await sleep(150);
  const out: Observations = new Map();
  runs.forEach((run, i) => {
    const address = clientAddress(i);
    const entry = {} as Record<FrontName, Observation>;
    fronts.forEach((front, f) => {
      entry[front.name] = {
        client: clients[i]![f]!,
        upstream: front.upstream.records.get(address) ?? null,
      };
    });
    out.set(run.name, entry);
  });
  return out;
}

/** Long bodies as their length and a hash, so that a diff stays readable. */
function short(text: string): string {
  if (text.length <= 120) return text;
  return `<${text.length} bytes ${createHash('sha1').update(text, 'latin1').digest('hex').slice(0, 12)}>`;
}

const lower = (headers: [string, string][], drop: Set<string>) =>
  headers
    .map(([n, v]) => [n.toLowerCase(), short(v)] as [string, string])
    .filter(([n]) => !drop.has(n))
    .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1));

const EXACT_CLIENT_DROP = new Set(['date', 'connection', 'keep-alive']);

/**
 * Each request gets its own X-Request-Id (observe/request-id.ts), so the two paths never send the same value:
 * whether one was sent, and where, is compared; the value itself is replaced by `<id>`, in the header and in the
 * error page that shows it.
 */
const ID = '<id>';
const isIdHeader = (name: string) => name.length === 12 && name.toLowerCase() === 'x-request-id';
const withoutIds = (headers: [string, string][]) =>
  headers.map(([n, v]) => (isIdHeader(n) ? [n, ID] : [n, v]) as [string, string]);
function bodyWithoutId(headers: [string, string][], body: string): string {
  const id = headers.find(([n]) => isIdHeader(n))?.[1];
  return id === undefined || id === '' ? body : body.split(id).join(ID);
}
/** A response with its id replaced: an error page's Content-Length then counts the page with `<id>` in it. */
function responseWithoutId(headers: [string, string][], body: string) {
  const clean = bodyWithoutId(headers, body);
  const length = String(Buffer.byteLength(clean, 'latin1'));
  const cleanHeaders = withoutIds(headers).map(
    ([n, v]) =>
      (clean !== body && n.toLowerCase() === 'content-length' ? [n, length] : [n, v]) as [string, string],
  );
  return { headers: cleanHeaders, body: clean };
}

export function exactView(o: Observation) {
  return {
    upstream:
      o.upstream === null
        ? 'nothing reached the upstream'
        : {
            requests: o.upstream.requests.map((r) => ({
              line: `${r.method} ${r.target} ${r.version}`,
              headers: withoutIds(r.headers).map(([n, v]) => `${n}: ${short(v)}`),
              framing: r.framing,
              body: short(r.body),
              trailers: r.trailers,
            })),
            garbage: o.upstream.garbage.map(short),
            maxInFlight: o.upstream.maxInFlight,
          },
    client: {
      end: o.client.end,
      garbage: partial(o.client.garbage),
      responses: o.client.responses.map((r) => {
        const clean = responseWithoutId(r.headers, r.body);
        return {
          status: r.status,
          version: r.version,
          framing: r.framing,
          keepAlive: !r.headers.some(([n, v]) => n.toLowerCase() === 'connection' && /close/i.test(v)),
          headers: lower(clean.headers, EXACT_CLIENT_DROP),
          body: short(clean.body),
          trailers: r.trailers,
        };
      }),
    },
  };
}

/**
 * What the client read that is not a whole response. A response cut short (the connection closed inside it)
 * counts as nothing: how much of it was flushed before the cut depends on when each path's socket writes go
 * out (node:http holds the first write of a response until the next tick), not on how it was read; that it
 * was cut shows in `end` and in the missing response.
 */
function partial(text: string): string {
  return text.startsWith('HTTP/') ? '' : short(text);
}

// x-request-id: nodix adds one to every request (nginx only with `proxy_set_header X-Request-Id $request_id`).
const NGINX_UPSTREAM_DROP = new Set([
  'connection',
  'keep-alive',
  'content-length',
  'transfer-encoding',
  'x-request-id',
]);
const NGINX_CLIENT_DROP = new Set([
  'date',
  'server',
  'connection',
  'keep-alive',
  'content-length',
  'transfer-encoding',
]);

export function nginxView(o: Observation) {
  return {
    upstream:
      o.upstream === null
        ? 'nothing reached the upstream'
        : {
            requests: o.upstream.requests.map((r) => ({
              line: `${r.method} ${r.target}`,
              headers: lower(r.headers, NGINX_UPSTREAM_DROP).map(([n, v]) => `${n}: ${v}`),
              body: short(r.body),
            })),
            garbage: o.upstream.garbage.length > 0,
            maxInFlight: o.upstream.maxInFlight,
          },
    client: {
      end: o.client.end,
      responses: o.client.responses
        .filter((r) => r.status >= 200)
        .map((r) =>
          r.headers.some(([n]) => n.toLowerCase() === 'x-up')
            ? {
                status: r.status,
                headers: lower(r.headers, NGINX_CLIENT_DROP).map(([n, v]) => `${n}: ${v}`),
                body: short(r.body),
              }
            : { status: r.status, body: '(a page of the proxy)' },
        ),
    },
  };
}

/** A documented difference from nginx: cases it covers, and why it is accepted. */
export interface NginxDifference {
  /** `request/NAME` or `response/NAME`, or a pattern over those. */
  match: string | RegExp;
  reason: string;
}

export interface Verdicts {
  /** `request/NAME` or `response/NAME` → the issue #10 defect it waits for: its failures are TODO. */
  pending: Readonly<Record<string, number>>;
  allowed: readonly NginxDifference[];
}

/**
 * Asserts every case: fast path and node:http path identical (exactView), and each equal to nginx (nginxView)
 * unless the allow-list covers the case. Pending cases run as TODO; a pending case that now passes, and an
 * allow-list entry that no case needs any more, are reported as stale: a failure, so that the lists never rot
 * (`CONFORMANCE_STRICT=0` makes it a comment, for a local run while a fix is under way).
 */
export function judge(t: Test, table: string, observed: Observations, verdicts: Verdicts): void {
  const stalePending: string[] = [];
  const usedAllowances = new Set<NginxDifference>();
  let nodeDiffers = 0;
  let nginxDiffers = 0;
  for (const [name, o] of observed) {
    const defect = verdicts.pending[`${table}/${name}`];
    const todo = defect === undefined ? undefined : `issue #10 defect ${defect} (pendingDefects)`;
    const fast = exactView(o.fast);
    const node = exactView(o.node);
    const pathsAgree = same(fast, node);
    if (!pathsAgree) nodeDiffers++;
    const allowance = verdicts.allowed.find((a) => matches(a, `${table}/${name}`));
    const reference = nginxView(o.nginx);
    const nginxAgrees = same(nginxView(o.fast), reference) && same(nginxView(o.node), reference);
    if (!nginxAgrees) {
      nginxDiffers++;
      if (allowance !== undefined) usedAllowances.add(allowance);
    }
    if (todo !== undefined && pathsAgree && (nginxAgrees || allowance !== undefined)) {
      stalePending.push(name);
      continue;
    }
    if (pathsAgree) t.pass(`${table} ${name}: fast path = node:http path`);
    else t.same(fast, node, `${table} ${name}: fast path = node:http path`, todo ? { todo } : {});
    if (nginxAgrees) t.pass(`${table} ${name}: nodix = nginx`);
    else if (allowance !== undefined)
      t.pass(`${table} ${name}: differs from nginx (allowed: ${allowance.reason})`);
    else {
      const extra = todo ? { todo } : {};
      t.same(nginxView(o.fast), reference, `${table} ${name}: fast path = nginx`, extra);
      t.same(nginxView(o.node), reference, `${table} ${name}: node:http path = nginx`, extra);
    }
  }
  const staleAllowances = verdicts.allowed.filter(
    (a) => !usedAllowances.has(a) && [...observed.keys()].some((n) => matches(a, `${table}/${n}`)),
  );
  t.comment(
    `${table}: ${observed.size} cases; fast≠node ${nodeDiffers}; ≠nginx ${nginxDiffers} (${usedAllowances.size} allow-list entries used)`,
  );
  const strict = process.env.CONFORMANCE_STRICT !== '0';
  if (stalePending.length > 0) {
    const message = `${table}: pendingDefects entries that now pass (remove them): ${stalePending.join(', ')}`;
    if (strict) t.fail(message);
    else t.comment(`STALE ${message}`);
  }
  if (staleAllowances.length > 0) {
    const message = `${table}: nginx-differences entries no case needs (remove them): ${staleAllowances.map((a) => String(a.match)).join(', ')}`;
    if (strict) t.fail(message);
    else t.comment(`STALE ${message}`);
  }
}

function matches(a: NginxDifference, name: string): boolean {
  return typeof a.match === 'string' ? a.match === name : a.match.test(name);
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
