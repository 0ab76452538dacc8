/**
 * Header handling shared by plain requests (inbound/node-path.ts) and upgrades (upgrade.ts): classifying header names,
 * reading the request head in one pass, and adding X-Forwarded-*.
 *
 * hot path — change with care:
 * - Header names arrive in whatever case the client or upstream used, but any one peer uses the same spelling
 *   every time. `headerKind` memoises raw name → kind, so the common case is one Map lookup with no
 *   `toLowerCase()` allocation. The memo is bounded: a peer inventing names cannot grow it past MEMO_LIMIT.
 * - `readRequestHead` walks `req.rawHeaders` once and builds the flat [name, value, ...] array the upstream
 *   client writes as is, never touching `req.headers` (node:http builds that object lazily; not asking for it saves the work).
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { normalisePeerAddress, type TrustedProxies } from '../inbound/trust.js';
import { acceptableRequestId } from '../observe/request-id.js';
import { normaliseHost } from '../route-table/host.js';

export const PASS = 0;
export const HOST = 1;
/** Hop-by-hop: never forwarded in either direction (RFC 9110 §7.6.1). */
export const HOP = 2;
export const CONNECTION = 3;
export const CONTENT_LENGTH = 4;
export const TRANSFER_ENCODING = 5;
export const X_FORWARDED_FOR = 6;
export const X_FORWARDED_PROTO = 7;
export const X_FORWARDED_HOST = 8;
/** `Expect: 100-continue` is answered by node:http itself, so it is not passed on. */
export const EXPECT = 9;
export const UPGRADE = 10;
/** Kept only from trusted proxies (addForwardedHeaders), like X-Forwarded-*. */
export const X_REQUEST_ID = 11;
/**
 * A name with an underscore (`X_Forwarded_For`, `Content_Length`): frameworks that map `_` and `-` to the same
 * variable would read it as the dashed header, which the proxy did not check. Request headers of this kind are
 * dropped unless the proxy is set to keep them (nginx's `underscores_in_headers off`); response headers pass.
 */
export const UNDERSCORE = 12;

const KINDS: Record<string, number> = {
  host: HOST,
  connection: CONNECTION,
  'keep-alive': HOP,
  'proxy-connection': HOP,
  te: HOP,
  trailer: HOP,
  upgrade: UPGRADE,
  'http2-settings': HOP,
  'transfer-encoding': TRANSFER_ENCODING,
  'content-length': CONTENT_LENGTH,
  'x-forwarded-for': X_FORWARDED_FOR,
  'x-forwarded-proto': X_FORWARDED_PROTO,
  'x-forwarded-host': X_FORWARDED_HOST,
  expect: EXPECT,
  'x-request-id': X_REQUEST_ID,
};

const MEMO_LIMIT = 4096;
const kindMemo = new Map<string, number>();

export function headerKind(name: string): number {
  const known = kindMemo.get(name);
  if (known !== undefined) return known;
  const kind = KINDS[name.toLowerCase()] ?? (name.includes('_') ? UNDERSCORE : PASS);
  if (kindMemo.size < MEMO_LIMIT) kindMemo.set(name, kind);
  return kind;
}

/** KINDS by name length: the candidates `headerKindAt` compares a name with. */
const KINDS_BY_LENGTH: ([string, number][] | undefined)[] = [];
for (const [name, kind] of Object.entries(KINDS)) {
  KINDS_BY_LENGTH[name.length] ??= [];
  KINDS_BY_LENGTH[name.length]!.push([name, kind]);
}

/**
 * `headerKind` of the name `text.slice(start, end)`, without slicing or lower-casing it: for a scanner that reads a
 * head in place (inbound/fast-path.ts). The name must be a token (RFC 9110 §5.6.2), checked by the caller, as is
 * an underscore in it (UNDERSCORE, which no name of KINDS has). OR-ing 0x20 lower-cases the letters of a token and
 * leaves '-' and digits alone; no other token character can then equal a lower-case letter, '-' or a digit.
 */
export function headerKindAt(text: string, start: number, end: number): number {
  const candidates = KINDS_BY_LENGTH[end - start];
  if (candidates === undefined) return PASS;
  for (let k = 0; k < candidates.length; k++) {
    const [name, kind] = candidates[k]!;
    let i = 0;
    while (i < name.length && (text.charCodeAt(start + i) | 0x20) === name.charCodeAt(i)) i++;
    if (i === name.length) return kind;
  }
  return PASS;
}

const PLAIN_CONNECTION = new Set(['keep-alive', 'close', 'Keep-Alive', 'Close', 'upgrade', 'Upgrade']);

/**
 * Names a Connection header can never remove: the message's framing (Content-Length; Transfer-Encoding is
 * re-framed by the proxy anyway) and its Host. Removing them would turn a framed message into an unframed one,
 * or send a request upstream without the Host it was routed by (RFC 9110 §7.6.1 lists them as not hop-by-hop).
 */
const NEVER_HOP_BY_HOP = new Set([
  'keep-alive',
  'close',
  'upgrade',
  'content-length',
  'transfer-encoding',
  'host',
]);

/** Lower-case names listed in a Connection header, except the options themselves and NEVER_HOP_BY_HOP. */
export function connectionTokens(value: string): Set<string> | null {
  // Nearly every Connection header is one of these spellings: answer without splitting and lower-casing.
  if (PLAIN_CONNECTION.has(value)) return null;
  let tokens: Set<string> | null = null;
  for (const raw of value.split(',')) {
    const token = trimOws(raw).toLowerCase();
    if (token === '' || NEVER_HOP_BY_HOP.has(token)) continue;
    tokens ??= new Set();
    tokens.add(token);
  }
  return tokens;
}

/** Removes the headers named in `tokens` from a flat [name, value, ...] array (rare: custom Connection options). */
export function dropNamed(headers: string[], tokens: Set<string>): string[] {
  const kept: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!tokens.has(headers[i]!.toLowerCase())) kept.push(headers[i]!, headers[i + 1]!);
  }
  return kept;
}

/** What the proxy knows about the peer of a client connection, computed once per connection. */
export interface Peer {
  /** Address as logged and put into X-Forwarded-For (IPv4-mapped IPv6 unwrapped). */
  address: string;
  /** Whether the peer is a trusted proxy (its X-Forwarded-* are kept). */
  trusted: boolean;
  /** `https` on the TLS listener, else `http`: X-Forwarded-Proto, and whether HSTS or a redirect applies. */
  proto: 'http' | 'https';
  /**
   * The TLS connection's SNI name, normalised as a Host is (lowercase, no trailing dot); null on plain
   * connections and TLS ones without SNI. A request whose Host names another gets 421 (inbound/route.ts).
   */
  servername: string | null;
}

const kPeer = Symbol('nodix.peer');

/** The peer of `socket`, cached on the socket: keep-alive connections pay for the trust check once. */
export function peerOf(socket: Socket, trust: TrustedProxies | null): Peer {
  const holder = socket as unknown as { [kPeer]?: Peer };
  let peer = holder[kPeer];
  if (peer === undefined) {
    const address = normalisePeerAddress(socket.remoteAddress ?? '');
    // A TLSSocket (the TLS listener hands it to the same paths as a plain one) says so itself.
    const tls = socket as Socket & { encrypted?: boolean; servername?: string | false | null };
    const secure = tls.encrypted === true;
    const sni = secure ? tls.servername : null;
    peer = {
      address,
      trusted: trust?.check(address) ?? false,
      proto: secure ? 'https' : 'http',
      servername: typeof sni === 'string' && sni !== '' ? normaliseHost(sni) : null,
    };
    holder[kPeer] = peer;
  }
  return peer;
}

/** A header name (RFC 9110 token) and the colon after it, at the start of a line. */
const NAME_AND_COLON = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

/**
 * A head's header lines, from `lastIndex` (sticky): each what headerColon accepts (a token, its colon, a value of
 * HTAB, SP, VCHAR and obs-text: the text is latin1, one character per byte), the lines joined by CRLF. Matches as
 * far as the lines are good, so `lastIndex` ends at the end of the text when all are, else at the start of the
 * first bad line. Linear: a name cannot hold the colon, a value cannot hold the CR, so nothing is tried twice.
 * One test of a whole head costs half of a check per line or a loop per character (fast-path.ts, client.ts).
 */
export const HEADER_LINES = /(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*(?:\r\n|$))*/y;

/**
 * The colon's index in a strictly well-formed header line: a token name right before the colon, no control
 * character but tab anywhere (so no bare CR/LF and no obs-fold), -1 otherwise. Used where the proxy reads heads
 * itself (fast-path.ts for requests, upstream/client.ts for responses); node:http checks its own.
 */
export function headerColon(line: string): number {
  if (!NAME_AND_COLON.test(line) || CONTROL.test(line)) return -1;
  return line.indexOf(':');
}

/**
 * `value` without leading and trailing optional whitespace: SP and HTAB only (RFC 9110 §5.6.3). String's trim()
 * also strips the no-break space and other Unicode spaces, which would make `Content-Length: \xA05` read as 5.
 */
export function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end) {
    const c = value.charCodeAt(start);
    if (c !== 0x20 && c !== 0x09) break;
    start++;
  }
  while (end > start) {
    const c = value.charCodeAt(end - 1);
    if (c !== 0x20 && c !== 0x09) break;
    end--;
  }
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

/** Digits only, at most 15 of them (a Number stays exact); -1 for anything else. */
export function parseContentLength(value: string): number {
  if (value.length === 0 || value.length > 15) return -1;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
  }
  return Number(value);
}

/** The request head, read in one pass. Forward extends it so that a plain request allocates one object. */
export class RequestHead {
  /** The Host header value (the last one when there are several; see hostCount). */
  host = '';
  hostCount = 0;
  /** A body follows: a non-zero Content-Length or any Transfer-Encoding. */
  hasBody = false;
  /** Content-Length headers sent, and the last one's value: the fast path reads a body itself only with one. */
  contentLengths = 0;
  contentLength = '';
  /** A Transfer-Encoding was sent (bodies framed that way are left to node:http's parser). */
  transferEncoding = false;
  /** The Transfer-Encoding values, comma-joined (only `chunked` is accepted, see inbound/route.ts). */
  transferCoding = '';
  /** Headers to send upstream, flat: hop-by-hop and untrusted X-Forwarded-* removed. */
  headers: string[] = [];
  connection: string | undefined = undefined;
  upgrade: string | undefined = undefined;
  forwardedFor: string | undefined = undefined;
  forwardedProto: string | undefined = undefined;
  forwardedHost: string | undefined = undefined;
  /** An Expect header was sent (node:http answers `100-continue` itself; it is not passed on). */
  expect = false;
  /** The X-Request-Id sent (the first one); passed on only from a trusted proxy. */
  incomingRequestId: string | undefined = undefined;
}

/** Fills `head` from `req.rawHeaders`. */
export function readRequestHead(req: IncomingMessage, head: RequestHead, underscores: boolean): void {
  readRawHeaders(req.rawHeaders, head, underscores);
}

/**
 * Fills `head` from a flat [name, value, ...] array as the client sent it. `underscores`: keep header names with
 * an underscore (the `underscoresInHeaders` setting).
 */
export function readRawHeaders(raw: readonly string[], head: RequestHead, underscores: boolean): void {
  const out = head.headers;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    switch (headerKind(name)) {
      case PASS:
        out.push(name, value);
        break;
      case HOST:
        head.hostCount++;
        head.host = value;
        out.push(name, value);
        break;
      case CONTENT_LENGTH:
        if (value !== '0') head.hasBody = true;
        head.contentLengths++;
        head.contentLength = value;
        out.push(name, value);
        break;
      case TRANSFER_ENCODING:
        head.transferCoding = head.transferEncoding ? `${head.transferCoding}, ${value}` : value;
        head.hasBody = true;
        head.transferEncoding = true;
        break;
      case CONNECTION:
        head.connection = head.connection === undefined ? value : `${head.connection}, ${value}`;
        break;
      case UPGRADE:
        head.upgrade = value;
        break;
      case X_FORWARDED_FOR:
        head.forwardedFor = head.forwardedFor === undefined ? value : `${head.forwardedFor}, ${value}`;
        break;
      case X_FORWARDED_PROTO:
        head.forwardedProto ??= value;
        break;
      case X_FORWARDED_HOST:
        head.forwardedHost ??= value;
        break;
      case EXPECT:
        head.expect = true;
        break;
      case X_REQUEST_ID:
        head.incomingRequestId ??= value;
        break;
      case UNDERSCORE:
        if (underscores) out.push(name, value);
        break;
      default: // HOP
        break;
    }
  }
  if (head.connection !== undefined) {
    const tokens = connectionTokens(head.connection);
    if (tokens !== null) head.headers = dropNamed(out, tokens);
  }
}

/** The request's id: the incoming X-Request-Id from a trusted proxy, else undefined (the proxy makes one). */
export function trustedRequestId(head: RequestHead, peer: Peer): string | undefined {
  const id = head.incomingRequestId;
  return peer.trusted && id !== undefined && acceptableRequestId(id) ? id : undefined;
}

/**
 * Appends X-Forwarded-For/-Proto/-Host, and X-Request-Id when `requestId` is given (the fast path, whose upstream
 * head is shared by identical requests, adds a request's own id as it sends it). From a trusted proxy the incoming
 * values are kept (For is extended with the peer); from anybody else they were dropped by readRequestHead and are
 * set afresh.
 */
export function addForwardedHeaders(
  head: RequestHead,
  peer: Peer,
  host: string,
  proto: string,
  requestId?: string,
): void {
  head.headers.push(
    'x-forwarded-for',
    forwardedFor(head, peer),
    'x-forwarded-proto',
    peer.trusted ? (head.forwardedProto ?? proto) : proto,
    'x-forwarded-host',
    peer.trusted ? (head.forwardedHost ?? host) : host,
  );
  // Last, where the fast path adds a request's own id after its shared upstream head: both paths send one order.
  if (requestId !== undefined) head.headers.push('x-request-id', requestId);
}

/** addForwardedHeaders as header lines (each ending in CRLF), for a head written as text (inbound/fast-path.ts). */
export function forwardedHeaderLines(
  head: RequestHead,
  peer: Peer,
  host: string,
  proto: string,
  requestId: string | undefined,
): string {
  const lines = `x-forwarded-for: ${forwardedFor(head, peer)}\r\nx-forwarded-proto: ${peer.trusted ? (head.forwardedProto ?? proto) : proto}\r\nx-forwarded-host: ${peer.trusted ? (head.forwardedHost ?? host) : host}\r\n`;
  return requestId === undefined ? lines : `${lines}x-request-id: ${requestId}\r\n`;
}

function forwardedFor(head: RequestHead, peer: Peer): string {
  return peer.trusted && head.forwardedFor !== undefined
    ? `${head.forwardedFor}, ${peer.address}`
    : peer.address;
}

/**
 * Response headers as raw Buffers or strings (an upgrade's non-101 answer) → the flat string array `res.writeHead` takes, without hop-by-hop
 * headers and those the upstream's Connection names. latin1 maps bytes 1:1, as node:http itself reads headers.
 */
export function responseHeaders(raw: readonly Buffer[] | readonly string[]): string[] {
  const out: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const nameRaw = raw[i]!;
    const name = typeof nameRaw === 'string' ? nameRaw : nameRaw.toString('latin1');
    const kind = headerKind(name);
    if (kind === HOP || kind === TRANSFER_ENCODING || kind === UPGRADE) continue;
    const valueRaw = raw[i + 1]!;
    const value = typeof valueRaw === 'string' ? valueRaw : valueRaw.toString('latin1');
    if (kind === CONNECTION) {
      connection = connection === undefined ? value : `${connection}, ${value}`;
      continue;
    }
    out.push(name, value);
  }
  if (connection !== undefined) {
    const tokens = connectionTokens(connection);
    if (tokens !== null) return dropNamed(out, tokens);
  }
  return out;
}
