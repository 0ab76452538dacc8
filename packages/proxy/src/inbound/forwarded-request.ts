/**
 * What node:http's request path (node-path.ts) and HTTP/2's (h2.ts) share once a request is routed: the upstream
 * attempt's state (upstream/attempt.ts), the one retry after a failure, the failure's status and log line, and
 * what the access log and metrics read (observe/record.ts). The two differ only in how they write a response, so
 * each says whether its response has started (`responseStarted`) and how it answers a failure (`fail`).
 *
 * hot path — change with care: one object per request (the request head, the attempt state and the record at
 * once); nothing here allocates per request but the `onDrain` closure.
 */
import { CLIENT_GONE } from '../errors.js';
import { statusForError } from '../http/error-pages.js';
import type { Peer } from '../http/headers.js';
import type { HostStats } from '../observe/metrics.js';
import { type RecordedRequest, recordRequest } from '../observe/record.js';
import type { RouteTable } from '../route-table/build.js';
import {
  type AttemptState,
  dispatchAttempt,
  failureStatus,
  retryTarget,
  settleAttempt,
} from '../upstream/attempt.js';
import type { RequestHeadText, ResponseHead, UpstreamCall } from '../upstream/client.js';
import type { Upstream } from '../upstream/pool.js';
import type { ForwardContext } from './node-path.js';
import type { RequestBody } from './request-body.js';
import { RoutedRequest } from './route.js';

/** A request body that counts what it read from the client (metrics, access log). */
export interface CountedBody extends RequestBody {
  readonly bytes: number;
}

export abstract class ForwardedRequest extends RoutedRequest implements AttemptState, RecordedRequest {
  readonly ctx: ForwardContext;
  /** The route table the request started with (a reload does not move it to the next one). */
  readonly table: RouteTable;
  readonly startedAt: number;
  readonly peer: Peer;
  upstream: Upstream | null = null;
  /** The head written upstream, built once (kept for a retry). */
  upstreamHead: RequestHeadText | null = null;
  /** The current attempt upstream: aborts it, or resumes reading it after the client drained. */
  call: UpstreamCall | null = null;
  /** The current attempt finished (completed or failed); its `active` count was returned. */
  settled = true;
  retried = false;
  /** The request body as the upstream client reads it; created with the first attempt, kept for a retry. */
  body: CountedBody | null = null;
  clientGone = false;
  listeningForDrain = false;
  /** A trusted proxy's X-Request-Id, or one made here; set right after the head is read. */
  requestId = '';
  /** When the current attempt was sent upstream; how long it took once it settled (-1: none yet). */
  upstreamStart = 0;
  upstreamSeconds = -1;
  /** When the current attempt settled (attempt.ts), reused as the request's end time instead of a fresh clock reading. */
  settledAt = 0;
  bytesOut = 0;

  abstract readonly method: string;
  abstract readonly url: string;
  abstract readonly httpVersion: string;
  /** Some of the response went to the client: a failure can no longer be answered with a status. */
  abstract readonly responseStarted: boolean;
  /** Answers a failure that allows no retry: an error page, or a cut response once it started. */
  abstract fail(err: Error): void;
  // The upstream response handler (upstream/client.ts), but for onError, which is below.
  abstract onHeaders(status: number, headers: string[], length: number, head: ResponseHead): boolean;
  abstract onData(chunk: Buffer): boolean;
  abstract onComplete(): void;

  constructor(ctx: ForwardContext, table: RouteTable, startedAt: number, peer: Peer) {
    super();
    this.ctx = ctx;
    this.table = table;
    this.startedAt = startedAt;
    this.peer = peer;
  }

  retryOn(upstream: Upstream): void {
    dispatchAttempt(this, upstream, this.method, this.upstreamHead!, this.body);
  }

  /** The upstream client's onError: settle, then the one retry (on the next tick) or `fail`. */
  onError(err: Error): void {
    settleAttempt(this, this.method, this.clientGone ? 499 : statusForError(err));
    if (this.clientGone) return;
    const next = retryTarget(
      this,
      err,
      this.group!,
      this.peer.address,
      this.method,
      this.body,
      this.responseStarted,
    );
    if (next !== null) {
      process.nextTick(retry, this, next);
      return;
    }
    this.fail(err);
  }

  /** The status for a failure answered with an error page, logged (rate-limited). */
  failureStatus(err: Error): 502 | 503 | 504 {
    return failureStatus(
      err,
      this.vhost?.key ?? this.host,
      this.method,
      this.path,
      this.upstream,
      this.ctx.logError,
    );
  }

  /** The client drained what the response had buffered: read the upstream again. */
  onDrain = (): void => {
    this.call?.resume();
  };

  /**
   * A forwarded request's client side is over (an HTTP/2 stream closed): it leaves the in-flight count and is
   * recorded with `status`, or, when it did not complete (the client reset it, the connection went away), with
   * 499 after its upstream attempt is stopped.
   */
  forwardEnded(complete: boolean, status: number): void {
    this.ctx.inFlight--;
    if (!complete) {
      this.clientGone = true;
      if (!this.settled) this.call?.abort(CLIENT_GONE);
    }
    this.record(this.vhost!.stats, complete ? status : 499);
  }

  record(stats: HostStats, status: number): void {
    recordRequest(stats, this.ctx.accessLog, this, status);
  }

  // --- observe/record.ts RecordedRequest ---
  get clientAddress(): string {
    return this.peer.address;
  }
  get hostHeader(): string {
    return this.host;
  }
  get vhostKey(): string | undefined {
    return this.vhost?.key;
  }
  get bytesIn(): number {
    return this.body?.bytes ?? 0;
  }
}

function retry(request: ForwardedRequest, upstream: Upstream): void {
  if (!request.clientGone) request.retryOn(upstream);
}
