/**
 * HTTP-01 answers (RFC 8555 §8.3): the key authorizations of this process's pending challenges, by token. The
 * ACME manager (manager.ts) adds a token while its challenge is pending and removes it when the CA has decided;
 * the routing decision (inbound/route.ts) answers `GET /.well-known/acme-challenge/<token>` from here before
 * looking at virtual hosts, for the fast path and node:http's path alike.
 *
 * One map per process: in cluster mode the primary runs the manager and sends the tokens to the workers
 * (lifecycle/cluster.ts), which fill their own map with `setAcmeChallenge`.
 */

/** Pending HTTP-01 tokens → key authorizations. Read by the hot path through `acmeChallengesPending`. */
const pending = new Map<string, string>();

export const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

/** A token's key authorization while its challenge is pending; null removes it. */
export function setAcmeChallenge(token: string, keyAuthorization: string | null): void {
  if (keyAuthorization === null) pending.delete(token);
  else pending.set(token, keyAuthorization);
}

/** True while any HTTP-01 challenge is pending: the only per-request cost when none is. */
export function acmeChallengesPending(): boolean {
  return pending.size !== 0;
}

/** The key authorization for `token`, if its challenge is pending (the body of the HTTP-01 answer). */
export function acmeChallenge(token: string): string | undefined {
  return pending.get(token);
}

/** The key authorization answering request path `path` (`/.well-known/acme-challenge/<token>`), if any. */
export function acmeChallengeForPath(path: string): string | undefined {
  let end = path.indexOf('?');
  if (end === -1) end = path.length;
  return pending.get(path.slice(ACME_CHALLENGE_PREFIX.length, end));
}
