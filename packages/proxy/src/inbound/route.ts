/**
 * The routing decision, the same for every request path (fast-path.ts, node-path.ts, upgrade.ts): a request head
 * in, and either a status to reject it with or the virtual host and upstream group it goes to. The paths differ
 * in how they read a head and write an answer, never in what they decide about it.
 *
 * hot path — change with care: one call per request on node:http's paths; the fast path calls it only when it
 * parses a head it has not seen (it keeps the result with the parsed head). No allocation but for an
 * absolute-form target.
 */
import { type Peer, RequestHead, trimOws } from '../http/headers.js';
import type { RouteTable, VirtualHost } from '../route-table/build.js';
import { BAD_HOST, normaliseHost, resolveHost } from '../route-table/host.js';
import { ACME_CHALLENGE_PREFIX, acmeChallengeForPath, acmeChallengesPending } from '../tls/acme/http-01.js';
import type { UpstreamGroup } from '../upstream/balance.js';

/** `routeRequest`'s answer for a pending HTTP-01 challenge's path: the path answers it (`head.acmeAnswer`). */
export const ACME_ANSWER = 1;

/**
 * Header lines a request head may have (node:http's default `maxHeadersCount`). A longer head is refused with
 * 431, never cut short: node:http keeps only the first lines of a longer head, silently, so a second Host behind
 * them would never be seen.
 */
export const MAX_HEADER_LINES = 2000;

/** A request head and where it goes: filled by `routeRequest`. */
export class RoutedRequest extends RequestHead {
  vhost: VirtualHost | null = null;
  group: UpstreamGroup | null = null;
  /** The origin-form target sent upstream (an absolute-form target's path). */
  path = '/';
  /** The key authorization answering an HTTP-01 challenge (with ACME_ANSWER). */
  acmeAnswer = '';

  /** The authority of an absolute-form target replaces the Host header (RFC 9112 §3.2.2). */
  setHost(authority: string): void {
    this.host = authority;
    this.hostCount = 1;
    const headers = this.headers;
    let replaced = false;
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i]!.toLowerCase() === 'host') {
        if (replaced) {
          headers.splice(i, 2);
          i -= 2;
        } else {
          headers[i + 1] = authority;
          replaced = true;
        }
      }
    }
    if (!replaced) headers.push('host', authority);
  }
}

/**
 * Decides where `head` (already filled by readRawHeaders) goes: 0, with `vhost`, `group` and `path` set, or the
 * status to answer without contacting an upstream:
 *   505  an HTTP version other than 1.x (node:http's parser reads `HTTP/2.0` as a request like 1.1)
 *   400  HTTP/0.9 (node:http reads `GET / HTTP/0.9` and a request line without version as 0.9), two Host
 *        headers (also with an absolute-form target), none on HTTP/1.1 (whatever the target's authority says:
 *        RFC 9112 §3.2), a malformed one, or a target that is neither origin-form nor http(s) absolute-form
 *   431  more than MAX_HEADER_LINES header lines
 *   501  a Transfer-Encoding other than exactly `chunked` (as nginx: unknown transfer codings are not
 *        forwarded with the coding silently dropped)
 *   421  on a TLS connection with SNI, a Host (port stripped, normalised) that is not the SNI name: the name the
 *        certificate was chosen for must be the one routed, even when one wildcard certificate covers both
 *        (as nginx and Caddy do). Without SNI (an IP address, an old client) the Host routes as on plain HTTP.
 *   404  no Host on HTTP/1.0, or no virtual host for it; a `/.well-known/acme-challenge/` path with no
 *        pending challenge while others are pending
 *   ACME_ANSWER  a GET for a pending HTTP-01 challenge (tls/acme/http-01.ts): `acmeAnswer` is the body, whatever
 *        the Host (the CA asks with the name being validated)
 *   308  a plain-HTTP request for a host with `redirectHttps` (not `/.well-known/acme-challenge/`): `vhost` and
 *        `path` are set, the caller answers with the redirect (redirectLocation)
 * `version`: major * 10 + minor, as node:http's parser reports it (9, 10, 11, 20); `headerLines`: the number
 * of header lines the head had; `peer`: the connection (TLS or not, its SNI name).
 */
export function routeRequest(
  table: RouteTable,
  head: RoutedRequest,
  method: string,
  target: string,
  version: number,
  headerLines: number,
  peer: Peer,
): number {
  if (version !== 11 && version !== 10) return version >= 20 ? 505 : 400;
  if (headerLines > MAX_HEADER_LINES) return 431;
  if (head.transferEncoding && !isChunkedOnly(head.transferCoding)) return 501;
  // Two Host headers are ambiguous about where the request goes, whatever the target says.
  if (head.hostCount > 1) return 400;
  // No Host: HTTP/1.0 never had to send one, so it gets the unknown-host page (or the target's authority);
  // HTTP/1.1 gets 400 (RFC 9112 §3.2), even when its target is in absolute form.
  if (head.hostCount === 0 && version === 11) return 400;
  let path = target;
  if (target.charCodeAt(0) !== 0x2f /* / */) {
    const absolute = splitAbsoluteUrl(target);
    if (absolute === null) return 400;
    path = absolute.path;
    head.setHost(absolute.authority);
  }
  // ACME HTTP-01 (RFC 8555 §8.3) before any virtual host: one Map.size read while no challenge is pending.
  if (acmeChallengesPending() && path.startsWith(ACME_CHALLENGE_PREFIX)) {
    const answer = acmeChallengeForPath(path);
    if (answer === undefined || (method !== 'GET' && method !== 'HEAD')) return 404;
    head.acmeAnswer = answer;
    head.path = path;
    return ACME_ANSWER;
  }
  if (head.hostCount === 0) return 404;
  const vhost = resolveHost(table, head.host);
  if (vhost === BAD_HOST) return 400;
  const servername = peer.servername;
  // The raw Host is the SNI name itself in the usual case: no normalising then.
  if (servername !== null && head.host !== servername && normaliseHost(head.host) !== servername) return 421;
  if (vhost === null) return 404;
  if (vhost.redirectHttps && peer.proto === 'http' && !path.startsWith(ACME_CHALLENGE_PREFIX)) {
    head.vhost = vhost;
    head.path = path;
    return 308;
  }
  let group = vhost.group;
  if (vhost.router !== null) {
    const match = vhost.router.find(method, path);
    if (match !== null) group = match.store;
  }
  head.vhost = vhost;
  head.group = group;
  head.path = path;
  return 0;
}

/**
 * Where a 308 from `routeRequest` sends the client: `https://` + the request's host name (normalised, port
 * dropped) + `httpsPort` (`:8443`, or '' for 443) + the request target.
 */
export function redirectLocation(head: RoutedRequest, httpsPort: string): string {
  return `https://${normaliseHost(head.host) ?? head.host}${httpsPort}${head.path}`;
}

/** The HTTP version of a request node:http parsed, as `routeRequest` takes it. */
export function versionOf(req: { httpVersionMajor: number; httpVersionMinor: number }): number {
  return req.httpVersionMajor * 10 + req.httpVersionMinor;
}

/** The Transfer-Encoding value(s) name the chunked coding and nothing else. */
function isChunkedOnly(value: string): boolean {
  const coding = trimOws(value);
  return coding.length === 7 && coding.toLowerCase() === 'chunked';
}

/**
 * `http://host:port/path?q` → authority and origin-form path; null for anything else (`*`, garbage). The scheme
 * is case-insensitive (RFC 3986 §3.1): `HTTP://` is `http://`.
 */
function splitAbsoluteUrl(url: string): { authority: string; path: string } | null {
  const prefix = url.slice(0, 8).toLowerCase();
  const scheme = prefix.startsWith('http://') ? 7 : prefix === 'https://' ? 8 : -1;
  if (scheme === -1) return null;
  let end = scheme;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === 0x2f || c === 0x3f || c === 0x23) break; // / ? #
    end++;
  }
  const authority = url.slice(scheme, end);
  if (authority === '' || authority.includes('@')) return null;
  const rest = url.slice(end);
  return { authority, path: rest === '' ? '/' : rest.charCodeAt(0) === 0x2f ? rest : `/${rest}` };
}
