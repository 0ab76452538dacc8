/**
 * Conformance cases that fail because of a defect of issue #10 being fixed on another branch: case name → defect
 * number. They run as TODO (reported, not failing CI). When a listed case passes (fast path = node:http path, and
 * nginx agrees or the allow-list covers it), the suite prints `STALE ... pendingDefects entries that now pass`
 * (and fails with CONFORMANCE_STRICT=1): delete those entries. Once the fixes are merged, this list should be
 * empty; a case still failing then is either a defect left or a difference to justify in nginx-differences.ts.
 */
export const pendingDefects: Readonly<Record<string, number>> = {
  // 1: a keep-alive connection stalls after a POST whose body came with its head.
  'request/defect/post-30k-then-get': 1,
  'request/defect/post-16k-then-get': 1,
  // 2: pipelined requests run at once (maxInFlight > 1 at the upstream).
  'request/defect/two-pipelined-posts': 2,
  'request/pipeline/two-posts-one-at-a-time': 2,
  'request/pipeline/four-gets-one-at-a-time': 2,
  // 3: `Connection: content-length` in a response strips the framing on the fast path.
  'response/hop/names-content-length': 3,
  // 4: a no-break space read as whitespace when the head comes in one read.
  'request/cl/nbsp-before': 4,
  'request/cl/nbsp-after': 4,
  'request/header/nbsp-before-value': 4,
  'request/header/nbsp-after-value': 4,
  'request/host-syntax/nbsp-before-value': 4,
  'request/host-syntax/nbsp-after-value': 4,
  'request/nbsp/content-length-one-read': 4,
  'request/nbsp/host-one-read': 4,
  // 5: a second Host after node:http's header count limit or with an absolute-form target; more header lines
  // than the limit must be 431, not truncated. absolute/no-host-header is the same code (the target's authority
  // makes a missing Host look like one): RFC 9112 §3.2 requires 400 for an HTTP/1.1 request without Host.
  'request/limits/tiny-headers-2001': 5,
  'request/limits/second-host-after-2000-tiny': 5,
  'request/absolute/two-hosts': 5,
  'request/absolute/two-hosts-unknown': 5,
  'request/absolute/no-host-header': 5,
  // 6: `Connection: host` removes Host.
  'request/defect/connection-host': 6,
  'request/connection/names-host': 6,
  // 7: header names with underscores reach the upstream.
  'request/underscore/custom': 7,
  'request/underscore/x-forwarded-for': 7,
  'request/underscore/x-forwarded-host': 7,
  'request/underscore/content-length': 7,
  'request/underscore/transfer-encoding': 7,
  'request/underscore/leading': 7,
  'request/cl/underscore': 7,
  'request/te/underscore': 7,
  'request/cl.te/underscore': 7,
  'request/te.cl/underscore': 7,
  // 9: a valid request followed by something unreadable gets only the 400.
  'request/defect/valid-then-garbage': 9,
  'request/pipeline/get-then-garbage': 9,
  'request/cl/zero-with-bytes-after': 9,
  'request/cl/body-larger-than-declared': 9,
  'request/http1.1/close-then-more': 9,
  // 10: transfer codings other than chunked must get 501.
  'request/defect/gzip-chunked': 10,
  'request/te/gzip-chunked': 10,
  'request/te/identity-chunked': 10,
  'request/te/leading-comma': 10,
  'request/te/two-headers-gzip-first': 10,
  'request/te/empty': 10,
  'request/te.cl/empty': 10,
  'request/cl.te/empty': 10,
  'request/te/gzip': 10,
  'request/te/identity': 10,
  'request/te/chunked-gzip': 10,
  'request/te/chunked-identity': 10,
  'request/te/chunked-chunked': 10,
  'request/te/comma-only': 10,
  'request/te/x-prefix': 10,
  'request/te/x-suffix': 10,
  'request/te/quoted': 10,
  'request/te/param': 10,
  'request/te/vtab-before': 10,
  'request/te/ff-before': 10,
  'request/te/nbsp-before': 10,
  'request/te/nbsp-after': 10,
};
