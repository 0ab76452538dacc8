/**
 * HTTP/2 loads with h2load (Debian's nghttp2-client): its command line for a setup's HTTPS URL, and its report
 * read into a LoadResult. h2load reports no latency percentiles, only min/max/mean of "time for request": the
 * p50 column gets the mean and the p99 column the max (README says so), and no p99 target is judged on them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { LoadOptions, LoadResult } from './load.js';

export const H2LOAD_MISSING =
  "h2load is not installed: the HTTP/2 scenario loads with Debian's nghttp2-client (`apt-get install nghttp2-client`)";

/** h2load's path, or undefined. */
export function findH2load(): string | undefined {
  if (existsSync('/usr/bin/h2load')) return '/usr/bin/h2load';
  const which = spawnSync('sh', ['-c', 'command -v h2load'], { encoding: 'utf8' });
  const path = which.stdout?.trim();
  return which.status === 0 && path ? path : undefined;
}

/**
 * h2load's arguments: `connections` clients with `streams` concurrent streams each, one thread, for whole seconds
 * (h2load's `-D` takes no fractions). The URI names the first host (its SNI and :authority); `--connect-to`
 * sends the connections to the setup's 127.0.0.1 port.
 */
export function h2loadArgs(options: LoadOptions): string[] {
  const { port } = new URL(options.url);
  const host = options.hosts[0];
  if (host === undefined) throw new Error('an h2load load needs a host name (its SNI and :authority)');
  const seconds = Math.max(1, Math.round(options.durationSeconds));
  return [
    '-t1',
    `-c${options.connections}`,
    `-m${options.streams ?? 10}`,
    `-D${seconds}`,
    `--connect-to=127.0.0.1:${port}`,
    `https://${host}:${port}/`,
  ];
}

/** A duration as h2load prints it (`610us`, `6.05ms`, `1.2s`) in milliseconds. */
function millis(text: string): number {
  const match = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!match) throw new Error(`not an h2load duration: ${text}`);
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

/** h2load's report → LoadResult; an error naming the line that is missing. */
export function parseH2loadOutput(output: string): LoadResult {
  const find = (pattern: RegExp, what: string) => {
    const match = pattern.exec(output);
    if (!match) throw new Error(`h2load output without ${what}`);
    return match;
  };
  const finished = find(/^finished in ([\d.]+)s, ([\d.]+) req\/s/m, 'a "finished in" line');
  const requests = find(
    /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m,
    'a "requests:" line',
  );
  const codes = find(/^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/m, 'a "status codes:" line');
  const time = find(/^time for request:\s+(\S+)\s+(\S+)\s+(\S+)/m, 'a "time for request:" line');
  const succeeded = Number(requests[4]);
  const durationSeconds = Number(finished[1]);
  return {
    requests: succeeded,
    durationSeconds,
    requestsPerSecond: durationSeconds > 0 ? succeeded / durationSeconds : 0,
    latencyP50Ms: millis(time[3]!),
    latencyP99Ms: millis(time[2]!),
    errors: Number(requests[5]) + Number(requests[6]),
    timeouts: Number(requests[7]),
    non2xx: Number(codes[3]) + Number(codes[4]),
    mismatches: 0,
    statusCodes: {
      '2xx': Number(codes[1]),
      '3xx': Number(codes[2]),
      '4xx': Number(codes[3]),
      '5xx': Number(codes[4]),
    },
  };
}
