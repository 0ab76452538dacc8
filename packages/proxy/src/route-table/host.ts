/**
 * Host normalisation and lookup, the way nginx does it: lowercase, port stripped, IPv6 literals kept in brackets,
 * one trailing dot dropped; exact names first, then the longest matching `*.suffix` wildcard.
 *
 * hot path — change with care: `resolveHost` runs for every request. It is one Map lookup in the table's memo in
 * the common case; the character scan below only runs the first time a given raw Host value is seen by a table.
 */

/** What `resolveHost` answers for a Host value that is not a valid host name (the request gets 400). */
export const BAD_HOST = Symbol('bad host');

/** The part of the compiled route table host lookup needs (see route-table/build.ts). */
export interface HostIndex<V> {
  readonly exact: ReadonlyMap<string, V>;
  /** Wildcards by suffix: `*.example.org` is stored under `example.org`. */
  readonly wildcards: ReadonlyMap<string, V>;
  /** Raw Host header value → what it resolved to; owned by one table, so a swap invalidates it for free. */
  readonly memo: Map<string, V | null | typeof BAD_HOST>;
}

// A memo filled by clients sending random Host values must not grow without bound: past this size it is cleared.
// Real traffic has a handful of distinct Host values per table, so the memo stays warm.
const MEMO_LIMIT = 10_000;

/**
 * Normalises a Host header value. Returns the lookup key (`webapp1.local`, `[::1]`), or null when the value is
 * malformed: empty, `..`, a leading dot, `/` or `\`, spaces, control or non-ASCII characters, a non-numeric port,
 * an unterminated or invalid IPv6 literal.
 */
export function normaliseHost(raw: string): string | null {
  const length = raw.length;
  if (length === 0 || length > 1024) return null;
  if (raw.charCodeAt(0) === 0x5b /* [ */) return normaliseIpv6Literal(raw);

  let end = length;
  let lower = false;
  let lastDot = -1;
  for (let i = 0; i < length; i++) {
    const c = raw.charCodeAt(i);
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f) continue; // a-z 0-9 - _
    if (c >= 0x41 && c <= 0x5a) {
      lower = true; // A-Z
      continue;
    }
    if (c === 0x2e /* . */) {
      if (i === 0 || lastDot === i - 1) return null;
      lastDot = i;
      continue;
    }
    if (c === 0x3a /* : */) {
      if (!isPort(raw, i + 1)) return null;
      end = i;
      break;
    }
    return null;
  }
  if (end === 0) return null;
  // One trailing dot is the fully qualified spelling of the same name ("webapp1.local." is "webapp1.local").
  if (lastDot === end - 1) {
    end--;
    if (end === 0) return null;
  }
  const name = end === length ? raw : raw.slice(0, end);
  return lower ? name.toLowerCase() : name;
}

function isPort(raw: string, from: number): boolean {
  // An empty port ("host:") is allowed by RFC 3986 (port = *DIGIT), as nginx does.
  if (raw.length - from > 5) return false;
  for (let i = from; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function normaliseIpv6Literal(raw: string): string | null {
  const close = raw.indexOf(']');
  if (close < 3) return null; // "[]" or "[:]" cannot be an address
  let colons = 0;
  for (let i = 1; i < close; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x3a) colons++;
    else if (
      !((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46) || c === 0x2e)
    ) {
      return null; // only hex digits, ':' and the dotted IPv4 tail ("::ffff:1.2.3.4") belong in a literal
    }
  }
  if (colons < 2) return null;
  if (close !== raw.length - 1) {
    if (raw.charCodeAt(close + 1) !== 0x3a || !isPort(raw, close + 2)) return null;
  }
  return raw.slice(0, close + 1).toLowerCase();
}

/** Exact names first, then the longest `*.suffix` that matches: walking the dots left to right tries longest first. */
export function lookupHost<V>(index: HostIndex<V>, name: string): V | null {
  const exact = index.exact.get(name);
  if (exact !== undefined) return exact;
  if (index.wildcards.size === 0) return null;
  let dot = name.indexOf('.');
  while (dot !== -1) {
    const found = index.wildcards.get(name.slice(dot + 1));
    if (found !== undefined) return found;
    dot = name.indexOf('.', dot + 1);
  }
  return null;
}

/** Raw Host header value → virtual host, null (unknown: 404) or BAD_HOST (malformed: 400), memoised per table. */
export function resolveHost<V>(index: HostIndex<V>, raw: string): V | null | typeof BAD_HOST {
  const memo = index.memo;
  const known = memo.get(raw);
  if (known !== undefined) return known;
  const name = normaliseHost(raw);
  const resolved = name === null ? BAD_HOST : lookupHost(index, name);
  if (memo.size >= MEMO_LIMIT) memo.clear();
  memo.set(raw, resolved);
  return resolved;
}
