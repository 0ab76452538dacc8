/**
 * Request ids: `X-Request-Id` as sent upstream, written to the access log and shown on error pages.
 *
 * hot path: one increment and one short string per request. A per-process random prefix (8 hex digits) makes
 * ids unique across processes, workers and restarts without a random number per request; the counter in base 36
 * keeps them short (`3f9a1c0e-1a2b`).
 */
import { randomBytes } from 'node:crypto';

const PREFIX = `${randomBytes(4).toString('hex')}-`;
let counter = 0;

export function nextRequestId(): string {
  return PREFIX + (++counter).toString(36);
}

/** An incoming X-Request-Id worth keeping (from a trusted proxy): short printable ASCII, nothing else. */
export function acceptableRequestId(value: string): boolean {
  return value.length > 0 && value.length <= 200 && /^[\x21-\x7e]+$/.test(value);
}
