/**
 * What happens when a request ends, the same for every request path (inbound/fast-path.ts, node-path.ts,
 * upgrade.ts): its virtual host's (or the unknown-host) counters and bytes, and its access-log line.
 *
 * hot path — change with care: one call per request. The request object itself is the `RecordedRequest` (getters
 * over what it holds), so nothing is allocated unless an access log is on.
 */
import type { Upstream } from '../upstream/pool.js';
import type { AccessLog } from './access-log.js';
import type { HostStats } from './metrics.js';

/** What a request path knows of a request when it ends. */
export interface RecordedRequest {
  readonly requestId: string;
  readonly method: string;
  /** The request target as the client sent it. */
  readonly url: string;
  readonly httpVersion: string;
  /** performance.now() when its head was read. */
  readonly startedAt: number;
  /** The client's address (the peer; IPv4-mapped IPv6 unwrapped). */
  readonly clientAddress: string;
  /** The Host header as sent ('' without one). */
  readonly hostHeader: string;
  /** The virtual host's route-table key; undefined when none matched. */
  readonly vhostKey: string | undefined;
  /** The upstream contacted last, null when none was. */
  readonly upstream: Upstream | null;
  /** Seconds the last upstream attempt took; -1 when there was none. */
  readonly upstreamSeconds: number;
  /** Body bytes read from the client / written to it. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** The request's headers, flat [name, value, ...]. */
  readonly headers: readonly string[];
}

/**
 * Records `request`, which ended with `status` (499: the client went away first), on `stats` and the log. `now`:
 * performance.now() if the caller read it just before (when the upstream attempt settled).
 */
export function recordRequest(
  stats: HostStats,
  accessLog: AccessLog | null,
  request: RecordedRequest,
  status: number,
  now = performance.now(),
): void {
  const seconds = (now - request.startedAt) / 1000;
  stats.record(request.method, status, seconds);
  const bytesIn = request.bytesIn;
  const bytesOut = request.bytesOut;
  stats.bytesIn += bytesIn;
  stats.bytesOut += bytesOut;
  if (accessLog === null) return;
  accessLog.write({
    requestId: request.requestId,
    address: request.clientAddress,
    method: request.method,
    url: request.url,
    httpVersion: request.httpVersion,
    status,
    host: request.hostHeader,
    vhost: request.vhostKey,
    upstream: request.upstream?.origin,
    upstreamSeconds: request.upstreamSeconds,
    seconds,
    bytesIn,
    bytesOut,
    headers: request.headers,
  });
}
