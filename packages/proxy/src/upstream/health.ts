/**
 * Active health checks: `GET <path>` on every upstream of a virtual host at an interval, through the upstream's
 * own keep-alive pool (upstream/client.ts). 2xx/3xx marks it healthy; anything else, an error or a timeout
 * marks it down until a later check passes. Timers are unref'd: checks never keep the process alive.
 */
import type { ResponseHandler, UpstreamCall } from './client.js';
import type { Upstream } from './pool.js';

export const DEFAULT_CHECK_INTERVAL_MS = 5000;
export const DEFAULT_CHECK_TIMEOUT_MS = 2000;

export interface ActiveCheck {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  /** Host header of the check request. */
  host: string;
}

/** One check request. The status decides; the body is read and dropped so the connection can be reused. */
class CheckRequest implements ResponseHandler {
  status = 0;
  timedOut = false;
  call: UpstreamCall | null = null;
  readonly #done: (err: Error | null, status: number, timedOut: boolean) => void;

  constructor(done: (err: Error | null, status: number, timedOut: boolean) => void) {
    this.#done = done;
  }

  /** Gives up: the request is aborted, and settles as timed out. */
  timeOut(): void {
    this.timedOut = true;
    this.call?.abort(new Error('health check timed out'));
  }

  onHeaders(statusCode: number): boolean {
    this.status = statusCode;
    return true;
  }

  onData(): boolean {
    return true;
  }

  onComplete(): void {
    this.#done(null, this.status, this.timedOut);
  }

  onError(err: Error): void {
    this.#done(err, 0, this.timedOut);
  }
}

/** Starts checking `upstream`; sets `upstream.stopChecks`. The first check runs right away. */
export function startActiveChecks(upstream: Upstream, check: ActiveCheck): void {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let current: CheckRequest | null = null;
  let deadline: NodeJS.Timeout | undefined;
  const headers = ['host', check.host, 'user-agent', 'nodix-proxy-health-check'];

  const record = (healthy: boolean, why: string) => {
    if (stopped || upstream.checkHealthy === healthy) return;
    upstream.checkHealthy = healthy;
    upstream.onChange?.(upstream, healthy, why);
  };

  const settled = (err: Error | null, statusCode: number, timedOut: boolean) => {
    current = null;
    clearTimeout(deadline);
    if (timedOut) {
      record(false, `active check ${check.path} failed: timed out after ${check.timeoutMs} ms`);
    } else if (err !== null) {
      const e = err as { code?: string; message?: string };
      record(false, `active check ${check.path} failed: ${e.code ?? e.message}`);
    } else if (statusCode >= 200 && statusCode < 400) {
      upstream.answered();
      record(true, `active check ${check.path} answered ${statusCode}`);
    } else {
      record(false, `active check ${check.path} answered ${statusCode}`);
    }
    if (!stopped) {
      timer = setTimeout(run, check.intervalMs);
      timer.unref();
    }
  };

  const run = () => {
    timer = null;
    const request = new CheckRequest(settled);
    current = request;
    deadline = setTimeout(() => request.timeOut(), check.timeoutMs);
    deadline.unref();
    request.call = upstream.pool.dispatch('GET', check.path, headers, null, request);
  };

  timer = setTimeout(run, 0);
  timer.unref();
  upstream.checkSignature = `${check.path}\n${check.intervalMs}\n${check.timeoutMs}\n${check.host}`;
  upstream.stopChecks = () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
    current?.timeOut();
    upstream.stopChecks = null;
    upstream.checkSignature = '';
    upstream.checkHealthy = true;
  };
}
