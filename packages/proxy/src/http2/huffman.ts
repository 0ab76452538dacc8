/**
 * The HPACK Huffman code (RFC 7541 §5.2, Appendix B): decoding the string literals a peer's encoder compressed,
 * and encoding for the response side when that is shorter.
 *
 * Appendix B is a canonical Huffman code: sorted by (length, symbol), each code is the previous one plus one,
 * shifted left by the difference in length. So the bit lengths alone determine every code, and the table below
 * holds only those; the codes, the decoding tree and the byte-at-a-time state machine are computed from it at
 * module load, which also checks that the lengths form a complete prefix code (a mistyped length would not).
 *
 * The decoder walks one input byte per step. Its states are the 256 internal nodes of the code tree (a full binary
 * tree with 257 leaves); for each state and byte, TRANSITIONS holds the state reached, the symbols completed on
 * the way (up to two) and whether EOS was completed (an error). A string
 * may end only in a state reached from the root by at most 7 one-bits: the padding RFC 7541 §5.2 allows.
 */
import { NodixProxyError } from '../errors.js';

/**
 * A header block that cannot be decoded (RFC 7541 §6: COMPRESSION_ERROR). The decoder's table is then out of step
 * with the peer's encoder, so the caller ends the connection (RFC 9113 §4.3). Exported by hpack.ts too.
 */
export class HpackError extends NodixProxyError {
  constructor(message: string) {
    super('NODIX_ERR_HPACK', message);
  }
}

/** Code length in bits of each symbol 0-255 and EOS (256), from RFC 7541 Appendix B. */
// biome-ignore format: sixteen symbols a row, as numbered in the comments
const LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 16
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // 32
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // 48
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // 64
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 80
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // 96
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 112
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240
  30, // EOS
];

const EOS = 256;

/** Code of each symbol, right-aligned (the "code as hex" column). */
const CODES = new Uint32Array(257);
/** LENGTHS as a typed array, for the encoder's loops. */
const CODE_LENGTHS = Uint8Array.from(LENGTHS);

{
  const order = Array.from({ length: 257 }, (_, sym) => sym).sort(
    (a, b) => LENGTHS[a]! - LENGTHS[b]! || a - b,
  );
  let code = 0;
  for (let k = 1; k < order.length; k++) {
    code = (code + 1) * 2 ** (LENGTHS[order[k]!]! - LENGTHS[order[k - 1]!]!);
    CODES[order[k]!] = code;
  }
}

// The code tree: internal nodes 0..255 (0 is the root); a child is a node number, or ~symbol for a leaf.
const EMPTY = -1 - 512;
const children = new Int32Array(512).fill(EMPTY);
{
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    let node = 0;
    for (let bit = LENGTHS[sym]! - 1; bit >= 0; bit--) {
      const slot = node * 2 + ((CODES[sym]! >>> bit) & 1);
      if (bit === 0) {
        if (children[slot] !== EMPTY) throw new Error('HPACK Huffman table: codes overlap');
        children[slot] = ~sym;
      } else {
        if (children[slot] === EMPTY) {
          if (nodes === 256) throw new Error('HPACK Huffman table: not a prefix code');
          children[slot] = nodes++;
        } else if (children[slot]! < 0) throw new Error('HPACK Huffman table: not a prefix code');
        node = children[slot]!;
      }
    }
  }
  if (nodes !== 256 || children.includes(EMPTY)) throw new Error('HPACK Huffman table: not a complete code');
}

/**
 * Transition entry: the next state in bits 0-7, the symbols completed on the way in bits 8-15 and 16-23, how many
 * (0-2) in bits 24-25, FAIL when EOS was completed. Two at most: a byte may finish a code begun in earlier bytes
 * with its first bit and hold one more whole 5-bit code, but not a third.
 */
const COUNT_SHIFT = 24;
const FAIL = 1 << 26;
const TRANSITIONS = new Uint32Array(256 * 256);
/** 1 for the states a string may end in: the root and the all-ones path up to 7 bits deep. */
const ACCEPTS = new Uint8Array(256);
{
  for (let state = 0; state < 256; state++) {
    for (let byte = 0; byte < 256; byte++) {
      let node = state;
      let symbols = 0;
      let count = 0;
      for (let bit = 7; bit >= 0 && node >= 0; bit--) {
        const child = children[node * 2 + ((byte >> bit) & 1)]!;
        if (child >= 0) {
          node = child;
        } else if (~child === EOS) {
          node = -1;
        } else {
          if (count === 2) throw new Error('HPACK Huffman table: three symbols in one byte');
          symbols |= ~child << (8 + 8 * count++);
          node = 0;
        }
      }
      TRANSITIONS[state * 256 + byte] = node < 0 ? FAIL : node | symbols | (count << COUNT_SHIFT);
    }
  }
  let node = 0;
  ACCEPTS[0] = 1;
  for (let depth = 1; depth <= 7; depth++) {
    node = children[node * 2 + 1]!;
    ACCEPTS[node] = 1;
  }
}

/** Where decoded bytes are collected before becoming one string; grown on demand, never shrunk. */
let scratch = Buffer.allocUnsafe(4096);

/**
 * The latin1 string (one char per byte) the Huffman-coded `src[start, end)` stands for. Throws HpackError for EOS
 * in the data, padding longer than 7 bits, or padding that is not all ones (RFC 7541 §5.2).
 *
 * hot path — change with care: one table lookup per input byte (a typed-array store truncates `entry >>> 8` to
 * the symbol), bytes collected in `scratch` and turned into a string once (no per-character string building).
 */
export function huffmanDecode(src: Buffer, start: number, end: number): string {
  // Every code is at least 5 bits long.
  const max = Math.floor(((end - start) * 8) / 5);
  if (scratch.length < max) scratch = Buffer.allocUnsafe(Math.max(max, scratch.length * 2));
  const out = scratch;
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const entry = TRANSITIONS[(state << 8) | src[i]!]!;
    if (entry & FAIL) throw new HpackError('Huffman-coded string contains EOS');
    const count = entry >>> COUNT_SHIFT;
    if (count !== 0) {
      out[n++] = entry >>> 8;
      if (count === 2) out[n++] = entry >>> 16;
    }
    state = entry & 0xff;
  }
  if (ACCEPTS[state] === 0) throw new HpackError('Huffman-coded string has invalid padding');
  return out.toString('latin1', 0, n);
}

/**
 * Bytes that huffmanEncode writes for `s` (latin1: char codes 0-255; higher ones are taken modulo 256, as a
 * latin1 Buffer write would).
 *
 * hot path — change with care: the encoder calls it for each value to choose between raw and Huffman.
 */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += CODE_LENGTHS[s.charCodeAt(i) & 0xff]!;
  return (bits + 7) >>> 3;
}

/**
 * Writes the Huffman code of latin1 `s` at `dst[offset]`, padded with one-bits to a whole byte (the start of EOS,
 * RFC 7541 §5.2); returns the offset after it. `dst` must have huffmanEncodedLength(s) bytes free there.
 *
 * hot path — change with care: `acc` holds the `pending` (< 8) bits not yet written plus the code being added,
 * kept within 31 bits so that the int32 shifts stay exact; codes longer than 24 bits go in two pieces.
 */
export function huffmanEncode(s: string, dst: Buffer, offset: number): number {
  let acc = 0;
  let pending = 0;
  let o = offset;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    let code = CODES[sym]!;
    let len = CODE_LENGTHS[sym]!;
    if (len > 24) {
      // High part first: len - 8 (<= 22) bits, which pending (<= 7) bits leave room for.
      acc = (acc << (len - 8)) | (code >>> 8);
      pending += len - 8;
      while (pending >= 8) {
        pending -= 8;
        dst[o++] = acc >>> pending;
      }
      acc &= (1 << pending) - 1;
      code &= 0xff;
      len = 8;
    }
    acc = (acc << len) | code;
    pending += len;
    while (pending >= 8) {
      pending -= 8;
      dst[o++] = acc >>> pending;
    }
    acc &= (1 << pending) - 1;
  }
  if (pending > 0) dst[o++] = (acc << (8 - pending)) | (0xff >>> pending);
  return o;
}
