/**
 * The load generator, run as its own process so it can be pinned to its own core (`lib/load.ts` starts it).
 * Reads its options as JSON from argv, runs autocannon once and prints one `RESULT {json}` line.
 */
import autocannon from 'autocannon';
import type { LoadOptions, LoadResult } from './load.js';

const options = JSON.parse(process.argv[2] ?? '{}') as LoadOptions;
const body = options.bodyBytes > 0 ? Buffer.alloc(options.bodyBytes, 'x') : undefined;
const template = (host: string) => ({
  method: options.method,
  headers: body ? { host, 'content-type': 'application/octet-stream' } : { host },
  ...(body ? { body } : {}),
});
// One host: the request is set at the top level, where autocannon can also check every body (expectBody).
// Several: one template per Host, and autocannon cycles every connection through the list, so the hosts
// alternate request by request on each connection, as traffic for several virtual hosts mixes on a real proxy
// (autocannon cannot check bodies then; the hosts' bodies differ anyway).
const [onlyHost] = options.hosts;
const requestOptions =
  options.hosts.length === 1 && onlyHost !== undefined
    ? {
        ...template(onlyHost),
        ...(options.expectBody !== undefined ? { expectBody: options.expectBody } : {}),
      }
    : { requests: options.hosts.map(template) };

console.log('load worker ready');
const result = await autocannon({
  url: options.url,
  connections: options.connections,
  duration: options.durationSeconds,
  ...requestOptions,
});

const summary: LoadResult = {
  requests: result.requests.total,
  durationSeconds: result.duration,
  requestsPerSecond: result.duration > 0 ? result.requests.total / result.duration : 0,
  latencyP50Ms: result.latency.p50,
  latencyP99Ms: result.latency.p99,
  errors: result.errors,
  timeouts: result.timeouts,
  non2xx: result.non2xx,
  mismatches: result.mismatches,
  statusCodes: Object.fromEntries(
    Object.entries(result.statusCodeStats ?? {}).map(([code, stats]) => [code, stats.count ?? 0]),
  ),
};
console.log(`RESULT ${JSON.stringify(summary)}`);
