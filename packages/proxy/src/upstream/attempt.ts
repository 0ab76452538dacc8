/**
 * One upstream attempt, the same for the fast path (inbound/fast-path.ts) and node:http's path
 * (inbound/node-path.ts): pick an upstream of the group, dispatch, settle the upstream's in-flight count, decide
 * the one retry, and say what a failure is logged as. The paths differ only in how they read the request and
 * write the response.
 *
 * hot path — change with care: the attempt's state lives on the request object itself (`AttemptState`), so an
 * attempt allocates nothing of its own; these are plain functions over that state.
 */
import { NoHealthyUpstreamError } from '../errors.js';
import { failureLabel, isConnectError, mayRetry, statusForError } from '../http/error-pages.js';
import type { RequestBody } from '../inbound/request-body.js';
import type { UpstreamGroup } from './balance.js';
import type { RequestHeadText, ResponseHandler, UpstreamCall } from './client.js';
import type { Upstream } from './pool.js';

/** What a request keeps of its upstream attempt; it is also the attempt's response handler. */
export interface AttemptState extends ResponseHandler {
  /** The upstream of the current (or last) attempt. */
  upstream: Upstream | null;
  /** The current attempt: aborts it, or resumes reading a paused response. */
  call: UpstreamCall | null;
  /** The current attempt ended; its `active` count was returned. */
  settled: boolean;
  /** The one retry was used. */
  retried: boolean;
  /** performance.now() when the current attempt was dispatched. */
  upstreamStart: number;
  /** Seconds the last settled attempt took (the access log's upstream time); -1 before any. */
  upstreamSeconds: number;
  /** performance.now() when the last attempt settled: a request that ends right then reads no clock again. */
  settledAt: number;
}

/**
 * Picks the first upstream and dispatches to it. Returns the NoHealthyUpstreamError to answer (503) when every
 * upstream of the group is down, else null.
 */
export function startAttempt(
  state: AttemptState,
  group: UpstreamGroup,
  clientAddress: string,
  method: string,
  head: RequestHeadText,
  body: RequestBody | null,
  extra = '',
  now = performance.now(),
): NoHealthyUpstreamError | null {
  const upstream = group.pick(clientAddress, null);
  if (upstream === null) return new NoHealthyUpstreamError(group.label);
  dispatchAttempt(state, upstream, method, head, body, extra, now);
  return null;
}

/**
 * `extra`: header lines sent after `head`'s own (the fast path's per-request X-Request-Id; see client.ts). `now`:
 * performance.now() if the caller read it just before (the fast path, when the request's head was read).
 */
export function dispatchAttempt(
  state: AttemptState,
  upstream: Upstream,
  method: string,
  head: RequestHeadText,
  body: RequestBody | null,
  extra = '',
  now = performance.now(),
): void {
  state.upstream = upstream;
  state.settled = false;
  upstream.active++;
  state.upstreamStart = now;
  state.call = upstream.pool.send(method, head, body, state, extra);
}

/**
 * The attempt ended with `status` (the upstream's, or the one its failure maps to; 499: client gone): the
 * upstream's in-flight count goes back and its requests and latency are recorded. Idempotent.
 */
export function settleAttempt(state: AttemptState, method: string, status: number): void {
  if (state.settled) return;
  state.settled = true;
  const upstream = state.upstream!;
  upstream.active--;
  const now = performance.now();
  state.settledAt = now;
  state.upstreamSeconds = (now - state.upstreamStart) / 1000;
  upstream.stats.record(method, status, state.upstreamSeconds);
}

/**
 * After an attempt failed (settled already): counts a failed connect against the upstream's passive health, and
 * returns the upstream for the one retry when the failure allows it (error-pages.ts `mayRetry`; never once
 * anything of the response went out), else null: the failure is answered. After a failed connect another
 * upstream is tried; after a dropped keep-alive socket the same one is fine (its pool opens a fresh connection).
 * The caller dispatches the retry on the next tick, not from inside the client's error callback, which is still
 * tearing down the failed connection.
 */
export function retryTarget(
  state: AttemptState,
  err: Error,
  group: UpstreamGroup,
  clientAddress: string,
  method: string,
  body: { readonly readableDidRead: boolean } | null,
  responseStarted: boolean,
): Upstream | null {
  const upstream = state.upstream!;
  const connectFailed = isConnectError(err);
  if (connectFailed) upstream.connectFailed();
  if (responseStarted || state.retried || !mayRetry(err, connectFailed, method, state.call, body))
    return null;
  state.retried = true;
  return group.pick(clientAddress, connectFailed ? upstream : null);
}

/** The status for a failure answered before the response started, and its log line (rate-limited by the caller). */
export function failureStatus(
  err: Error,
  host: string,
  method: string,
  path: string,
  upstream: Upstream | null,
  logError: (message: string) => void,
): 502 | 503 | 504 {
  const status = statusForError(err);
  logError(`${host} ${method} ${path} -> ${upstream?.origin ?? '(none)'}: ${failureLabel(err)} (${status})`);
  return status;
}
