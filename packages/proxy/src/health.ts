/**
 * Active health checks: `GET <path>` on every upstream of a virtual host at an interval, through the upstream's
 * own keep-alive pool. 2xx/3xx marks it healthy; anything else, an error or a timeout marks it down until a later
 * check passes. Timers are unref'd: checks never keep the process alive.
 */
import type { Upstream } from './upstream-pool.js';

export const DEFAULT_CHECK_INTERVAL_MS = 5000;
export const DEFAULT_CHECK_TIMEOUT_MS = 2000;

export interface ActiveCheck {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  /** Host header of the check request. */
  host: string;
}

/** Starts checking `upstream`; sets `upstream.stopChecks`. The first check runs right away. */
export function startActiveChecks(upstream: Upstream, check: ActiveCheck): void {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let controller: AbortController | null = null;

  const record = (healthy: boolean, why: string) => {
    if (stopped || upstream.checkHealthy === healthy) return;
    upstream.checkHealthy = healthy;
    upstream.onChange?.(upstream, healthy, why);
  };

  const run = async () => {
    timer = null;
    controller = new AbortController();
    const deadline = setTimeout(() => controller?.abort(), check.timeoutMs);
    deadline.unref();
    try {
      const { statusCode, body } = await upstream.pool.request({
        method: 'GET',
        path: check.path,
        headers: { host: check.host, 'user-agent': 'nodix-proxy-health-check' },
        signal: controller.signal,
      });
      await body.dump();
      if (statusCode >= 200 && statusCode < 400) {
        upstream.answered();
        record(true, `active check ${check.path} answered ${statusCode}`);
      } else {
        record(false, `active check ${check.path} answered ${statusCode}`);
      }
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const why = controller.signal.aborted ? `timed out after ${check.timeoutMs} ms` : (e.code ?? e.message);
      record(false, `active check ${check.path} failed: ${why}`);
    } finally {
      clearTimeout(deadline);
      controller = null;
    }
    if (!stopped) {
      timer = setTimeout(run, check.intervalMs);
      timer.unref();
    }
  };

  timer = setTimeout(run, 0);
  timer.unref();
  upstream.checkSignature = `${check.path}\n${check.intervalMs}\n${check.timeoutMs}\n${check.host}`;
  upstream.stopChecks = () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
    controller?.abort();
    upstream.stopChecks = null;
    upstream.checkSignature = '';
    upstream.checkHealthy = true;
  };
}
