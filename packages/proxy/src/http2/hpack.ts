/**
 * HPACK (RFC 7541), the header compression of HTTP/2, for the hand-written server path (inbound/h2-fast.ts).
 *
 * Decoding: one HpackDecoder per connection, fed each whole header block (HEADERS and CONTINUATION fragments
 * joined) in the order the frames arrived; its dynamic table follows the peer's encoder, so every block must be
 * decoded to the end, even one the caller is going to refuse. Any error is an HpackError: the table may then be
 * out of step, and the caller ends the connection with COMPRESSION_ERROR.
 *
 * Encoding: responses never add to the dynamic table (RFC 7541 §6.2.2 lets an encoder do without it), so the
 * encoder is a few stateless functions and the peer's table stays empty. One duty remains: when the peer's SETTINGS
 * lower SETTINGS_HEADER_TABLE_SIZE below 4096, the next response block must start with writeTableSizeUpdate
 * (RFC 7541 §4.2; nghttp2 clients insist on it).
 *
 * Strings are latin1 both ways: one char per byte, as node:http hands header values over.
 */
import { HpackError, huffmanDecode, huffmanEncode, huffmanEncodedLength } from './huffman.js';

export { HpackError };

/** RFC 7541 Appendix A; index 1 is STATIC_TABLE[0]. */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

const STATIC_LENGTH = STATIC_TABLE.length;
/** STATIC_TABLE split by HPACK index (slot 0 unused), so that a lookup is one array read. */
const STATIC_NAMES: string[] = [''];
const STATIC_VALUES: string[] = [''];
/** Name → lowest static index with that name, for the encoder. */
const STATIC_NAME_INDEX = new Map<string, number>();
for (const [name, value] of STATIC_TABLE) {
  STATIC_NAMES.push(name);
  STATIC_VALUES.push(value);
  if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, STATIC_NAMES.length - 1);
}

/** What RFC 7541 §4.1 adds to the octets of name and value, for the table and the header list size alike. */
const ENTRY_OVERHEAD = 32;
const MAX_INTEGER = 0x7fffffff;
/** Continuation bytes an integer may use: 5 carry 35 bits, more than any value below MAX_INTEGER needs. */
const MAX_INTEGER_BYTES = 5;

/** Where the last readInteger or readString stopped: a second return value without allocating a pair. */
let after = 0;

/**
 * Finishes an integer whose prefix was full (`prefix` = 2^N - 1), reading continuation bytes from `block[p]`
 * (RFC 7541 §5.1); sets `after`.
 */
function readInteger(block: Buffer, p: number, end: number, prefix: number): number {
  let value = prefix;
  let scale = 1;
  for (let k = 0; k < MAX_INTEGER_BYTES; k++) {
    if (p >= end) throw new HpackError('header block ends inside an integer');
    const b = block[p++]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      if (value > MAX_INTEGER) throw new HpackError('integer too large');
      after = p;
      return value;
    }
    scale *= 128;
  }
  throw new HpackError('integer too long');
}

/** A string literal (RFC 7541 §5.2) at `block[p]`, raw or Huffman-coded; sets `after`. */
function readString(block: Buffer, p: number, end: number): string {
  if (p >= end) throw new HpackError('header block ends before a string literal');
  const first = block[p++]!;
  let length = first & 0x7f;
  if (length === 0x7f) {
    length = readInteger(block, p, end, 0x7f);
    p = after;
  }
  if (length > end - p) throw new HpackError('string literal runs past the end of the header block');
  after = p + length;
  if (length === 0) return '';
  return first & 0x80 ? huffmanDecode(block, p, p + length) : block.toString('latin1', p, p + length);
}

/**
 * The decoding side of one connection: the dynamic table (RFC 7541 §2.3.2, §4) and decode().
 *
 * The table is a ring of names and values, newest at `#next - 1`; HPACK index 62 + i is the i-th newest entry.
 * An indexed field hands out the very strings stored when the entry was added: no allocation per indexed field.
 */
export class HpackDecoder {
  /** Largest table the peer's encoder may choose: the SETTINGS_HEADER_TABLE_SIZE this end advertises. */
  readonly maxTableSize: number;
  /** The table size the peer's encoder last chose (dynamic table size update); starts at maxTableSize. */
  #capacity: number;
  /** Sum of the entry sizes (RFC 7541 §4.1). */
  #size = 0;
  #count = 0;
  #next = 0;
  #names: string[] = new Array<string>(16).fill('');
  #values: string[] = new Array<string>(16).fill('');
  #mask = 15;

  constructor(maxTableSize = 4096) {
    if (!Number.isInteger(maxTableSize) || maxTableSize < 0 || maxTableSize > MAX_INTEGER) {
      throw new RangeError(`maxTableSize must be an integer from 0 to ${MAX_INTEGER}, got ${maxTableSize}`);
    }
    this.maxTableSize = maxTableSize;
    this.#capacity = maxTableSize;
  }

  /** Bytes in the dynamic table, as RFC 7541 §4.1 counts them. */
  get tableSize(): number {
    return this.#size;
  }

  /** The maximum table size currently in force (the peer's last dynamic table size update). */
  get tableCapacity(): number {
    return this.#capacity;
  }

  /** The dynamic table, newest entry (HPACK index 62) first; for tests and diagnostics. */
  tableEntries(): [string, string][] {
    const entries: [string, string][] = [];
    for (let i = 1; i <= this.#count; i++) {
      const slot = (this.#next - i) & this.#mask;
      entries.push([this.#names[slot]!, this.#values[slot]!]);
    }
    return entries;
  }

  /**
   * Decodes the header block `block[start, end)`, pushing name, value, name, value... onto `out`, and returns
   * the header list size (RFC 9113 §6.5.2: octets of name and value plus 32, per field). Once that size passes
   * `maxListSize` nothing more is pushed, but decoding goes on to the end so that the table stays in step; the
   * caller compares the result with its limit. Throws HpackError for a block that cannot be decoded.
   *
   * hot path — change with care:
   * - The representation is told by the first byte alone, most frequent first: indexed (1xxxxxxx), literal with
   *   incremental indexing (01xxxxxx), without indexing or never indexed (000xxxxx with 4-bit index), size update.
   * - An index or length that fits its prefix is read inline; only longer ones call readInteger.
   * - Static entries come from two flat arrays; dynamic ones from the ring, without a copy.
   */
  decode(block: Buffer, start: number, end: number, out: string[], maxListSize: number): number {
    let p = start;
    let listSize = 0;
    // A size update must come before the first field (RFC 7541 §4.2).
    let fieldSeen = false;
    while (p < end) {
      const first = block[p++]!;
      let name: string;
      let value: string;
      if (first >= 0x80) {
        // Indexed header field (§6.1).
        let index = first & 0x7f;
        if (index === 0x7f) {
          index = readInteger(block, p, end, 0x7f);
          p = after;
        }
        if (index === 0) throw new HpackError('indexed header field with index 0');
        if (index <= STATIC_LENGTH) {
          name = STATIC_NAMES[index]!;
          value = STATIC_VALUES[index]!;
        } else {
          const slot = this.#slot(index);
          name = this.#names[slot]!;
          value = this.#values[slot]!;
        }
      } else if (first >= 0x40 || first < 0x20) {
        // Literal header field (§6.2): with incremental indexing (6-bit name index), else without indexing or
        // never indexed (4-bit name index); index 0 means a literal name follows.
        const mask = first >= 0x40 ? 0x3f : 0x0f;
        let index = first & mask;
        if (index === mask) {
          index = readInteger(block, p, end, mask);
          p = after;
        }
        if (index === 0) {
          name = readString(block, p, end);
          p = after;
        } else if (index <= STATIC_LENGTH) {
          name = STATIC_NAMES[index]!;
        } else {
          name = this.#names[this.#slot(index)]!;
        }
        value = readString(block, p, end);
        p = after;
        if (first >= 0x40) this.#add(name, value);
      } else {
        // Dynamic table size update (§6.3).
        if (fieldSeen) throw new HpackError('dynamic table size update after a header field');
        let size = first & 0x1f;
        if (size === 0x1f) {
          size = readInteger(block, p, end, 0x1f);
          p = after;
        }
        if (size > this.maxTableSize) {
          throw new HpackError(
            `dynamic table size update to ${size}, above the ${this.maxTableSize} allowed`,
          );
        }
        this.#capacity = size;
        this.#evictTo(size);
        continue;
      }
      fieldSeen = true;
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize <= maxListSize) out.push(name, value);
    }
    return listSize;
  }

  /** The ring slot of HPACK index `index` (> STATIC_LENGTH); throws when there is no such entry. */
  #slot(index: number): number {
    const i = index - STATIC_LENGTH;
    if (i > this.#count) throw new HpackError(`index ${index} beyond the header tables`);
    return (this.#next - i) & this.#mask;
  }

  /** Adds an entry, evicting the oldest ones to make room (RFC 7541 §4.4); one larger than the table empties it. */
  #add(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.#capacity) {
      this.#evictTo(0);
      return;
    }
    this.#evictTo(this.#capacity - size);
    if (this.#count === this.#names.length) this.#grow();
    const slot = this.#next;
    this.#names[slot] = name;
    this.#values[slot] = value;
    this.#next = (slot + 1) & this.#mask;
    this.#count++;
    this.#size += size;
  }

  /** Evicts oldest entries until the table holds at most `limit` bytes. */
  #evictTo(limit: number): void {
    while (this.#size > limit) {
      const slot = (this.#next - this.#count) & this.#mask;
      this.#size -= this.#names[slot]!.length + this.#values[slot]!.length + ENTRY_OVERHEAD;
      // Drop the strings: the ring must not keep evicted values alive.
      this.#names[slot] = '';
      this.#values[slot] = '';
      this.#count--;
    }
  }

  /** Doubles the ring, oldest entry to slot 0. Entries are at least 32 bytes, so the ring stays below capacity/16. */
  #grow(): void {
    const length = this.#names.length * 2;
    const names = new Array<string>(length).fill('');
    const values = new Array<string>(length).fill('');
    for (let i = 0; i < this.#count; i++) {
      const slot = (this.#next - this.#count + i) & this.#mask;
      names[i] = this.#names[slot]!;
      values[i] = this.#values[slot]!;
    }
    this.#names = names;
    this.#values = values;
    this.#mask = length - 1;
    this.#next = this.#count;
  }
}

/**
 * Writes integer `value` (0 to 2^31 - 1) with an N-bit prefix (RFC 7541 §5.1) at `dst[offset]`; `flags` are the
 * representation's bits above the prefix in the first byte. Returns the offset after it.
 */
export function encodeInteger(
  value: number,
  prefixBits: number,
  flags: number,
  dst: Buffer,
  offset: number,
): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    dst[offset] = flags | value;
    return offset + 1;
  }
  dst[offset++] = flags | max;
  value -= max;
  while (value >= 0x80) {
    dst[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  dst[offset] = value;
  return offset + 1;
}

/**
 * A dynamic table size update (RFC 7541 §6.3) to `size`, for the start of a response block after the peer lowered
 * SETTINGS_HEADER_TABLE_SIZE (0 is always right: this encoder never uses the table). Returns the new offset.
 */
export function writeTableSizeUpdate(size: number, dst: Buffer, offset: number): number {
  return encodeInteger(size, 5, 0x20, dst, offset);
}

/** `:status` codes the static table holds, as their indexed-field byte (0x80 | index); 0 elsewhere. */
const STATUS_BYTES = new Uint8Array(600);
for (let index = 1; index <= STATIC_LENGTH; index++) {
  if (STATIC_NAMES[index] === ':status') STATUS_BYTES[Number(STATIC_VALUES[index])] = 0x80 | index;
}
const STATUS_NAME_INDEX = STATIC_NAME_INDEX.get(':status')!;

/**
 * Writes `:status` (a 3-digit code, 100-999) at `dst[offset]`: one byte when the static table has the code, else
 * a literal without indexing with the static name (5 bytes). Returns the offset after it.
 *
 * hot path — change with care: one typed-array read for the common codes.
 */
export function encodeStatus(status: number, dst: Buffer, offset: number): number {
  const indexed = STATUS_BYTES[status];
  if (indexed) {
    dst[offset] = indexed;
    return offset + 1;
  }
  dst[offset] = STATUS_NAME_INDEX;
  dst[offset + 1] = 3;
  dst[offset + 2] = 0x30 + ((status / 100) | 0);
  dst[offset + 3] = 0x30 + (((status / 10) | 0) % 10);
  dst[offset + 4] = 0x30 + (status % 10);
  return offset + 5;
}

/**
 * Fields sent as never indexed (RFC 7541 §6.2.3, §7.1.3): no difference to a peer, but an intermediary that
 * re-encodes them must not index them either.
 */
const NEVER_INDEXED = new Set(['authorization', 'proxy-authorization', 'set-cookie']);

/** Bounded: a stream of invented names cannot grow it past this. */
const NAME_CACHE_LIMIT = 1024;
/** Name → the bytes writeField starts a field with: representation byte and name (static index or literal). */
const namePrefixes = new Map<string, Buffer>();

/** Builds (and caches, while there is room) what writeField writes before the value. */
function namePrefix(name: string): Buffer {
  const flags = NEVER_INDEXED.has(name) ? 0x10 : 0x00;
  const index = STATIC_NAME_INDEX.get(name);
  const bytes = Buffer.allocUnsafe(index === undefined ? name.length + 7 : 2);
  const end =
    index === undefined
      ? writeString(name, bytes, encodeInteger(0, 4, flags, bytes, 0))
      : encodeInteger(index, 4, flags, bytes, 0);
  const prefix = bytes.subarray(0, end);
  if (namePrefixes.size < NAME_CACHE_LIMIT) namePrefixes.set(name, prefix);
  return prefix;
}

/**
 * A string literal for latin1 `s`: Huffman-coded when that is shorter, else raw. Returns the offset after it.
 *
 * hot path — change with care: short raw strings are copied by a loop rather than a call into Buffer#write.
 */
function writeString(s: string, dst: Buffer, offset: number): number {
  const length = s.length;
  const huffman = huffmanEncodedLength(s);
  if (huffman < length) return huffmanEncode(s, dst, encodeInteger(huffman, 7, 0x80, dst, offset));
  offset = encodeInteger(length, 7, 0, dst, offset);
  if (length < 32) {
    for (let i = 0; i < length; i++) dst[offset + i] = s.charCodeAt(i);
  } else {
    dst.write(s, offset, length, 'latin1');
  }
  return offset + length;
}

/** At least the bytes writeField(name, value) writes: both strings raw plus the largest prefixes and lengths. */
export function fieldLength(name: string, value: string): number {
  return name.length + value.length + 11;
}

/**
 * Writes the response field `name: value` at `dst[offset]` as a literal without indexing (never indexed for the
 * NEVER_INDEXED names), and returns the offset after it. `name` is lowercase; both are latin1; `dst` has
 * fieldLength(name, value) bytes free at `offset`.
 *
 * hot path — change with care: the representation byte and the name come from namePrefixes (one Map lookup and a
 * short copy); only the value is encoded each time.
 */
export function writeField(name: string, value: string, dst: Buffer, offset: number): number {
  const prefix = namePrefixes.get(name) ?? namePrefix(name);
  const length = prefix.length;
  for (let i = 0; i < length; i++) dst[offset + i] = prefix[i]!;
  return writeString(value, dst, offset + length);
}
