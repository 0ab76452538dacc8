/**
 * Where the HTTP/2 differential suite (h2-conformance.test.ts) accepts a difference, each with its reason. Any
 * other difference fails the suite, and an entry no case needs any more is reported as stale (a failure too,
 * unless CONFORMANCE_STRICT=0). `match` is a case name or a pattern over case names.
 *
 * - FAST_NODE_DIFFERENCES: where nodix's own HTTP/2 code (h2-fast.ts) and node:http2 (h2.ts, nghttp2) differ and
 *   the fast path does what RFC 9113 says. A fast path that is wrong is never an entry here: it is fixed.
 * - NGINX_DIFFERENCES: where nodix differs from nginx 1.22 (configured as in h2-harness.ts `nginxConfig`).
 */

export interface Listed {
  match: string | RegExp;
}

export interface Difference extends Listed {
  reason: string;
}

export const FAST_NODE_DIFFERENCES: readonly Difference[] = [
  {
    match:
      /^malformed\/(name-with-space|name-with-colon-inside|empty-name|value-with-nul|value-with-lf|value-with-cr|value-leading-space)$/,
    reason:
      'a field name or value with characters RFC 9113 §8.2.1 forbids: node:http2 drops the field (its invalid-header callback tells nghttp2 to ignore it) and forwards the request without it; RFC 9113 §8.2.1/§8.1.1 make the request malformed, and the fast path resets the stream PROTOCOL_ERROR',
  },
  {
    match:
      /^frame\/(headers-even-stream-id|headers-stream-0|headers-self-dependency|priority-stream-0|window-update-0-connection|window-overflow-connection|window-update-idle-stream|settings-(initial-window-too-large|enable-push-2|max-frame-size-too-small|max-frame-size-too-large|on-stream)|ping-on-stream|rst-stream-idle|rst-stream-0|push-promise|goaway-on-stream)$/,
    reason:
      'a connection error both paths find: node:http2 turns the error nghttp2 reports into a session error and ends the session with GOAWAY INTERNAL_ERROR; the fast path (and nginx) send the code RFC 9113 names for it (PROTOCOL_ERROR, FLOW_CONTROL_ERROR)',
  },
  {
    match:
      /^frame\/(data-on-half-closed-stream|headers-on-half-closed-stream|window-update-0-stream|priority-wrong-size|priority-self-dependency)$/,
    reason:
      'a stream error (RFC 9113 §5.1 half-closed: STREAM_CLOSED; §6.9 a zero increment: PROTOCOL_ERROR; §6.3 a PRIORITY of the wrong size: FRAME_SIZE_ERROR): the fast path resets the stream and serves the rest of the connection; nghttp2 makes it a connection error (§5.4.1 allows that), and for some of them node:http2 sends INTERNAL_ERROR in the GOAWAY',
  },
  {
    match: /^frame\/headers-stream-id-(reused|lower)$/,
    reason:
      'a request HEADERS on a stream id not above the last one (RFC 9113 §5.1.1: connection error PROTOCOL_ERROR, as nginx answers it): nghttp2 cannot tell it from trailers that crossed a RST_STREAM and ignores it, so the client waits for an answer that never comes; the fast path tells them apart (a request has pseudo-headers, trailers have none) and ends the connection',
  },
  {
    match: 'frame/window-overflow-stream',
    reason:
      'a stream window past 2^31-1 (RFC 9113 §6.9.1: stream error FLOW_CONTROL_ERROR): both reset the stream; node:http2 then also drops the whole connection without a GOAWAY, the fast path (and nginx) serve the rest of it',
  },
  {
    match: 'valid/ping-ack-from-client',
    reason:
      'a PING with ACK the server never asked for: node:http2 ends the session (GOAWAY INTERNAL_ERROR); RFC 9113 §6.7 gives an ACK no meaning beyond its own PING, and the fast path (and nginx) ignore it',
  },
  {
    match: 'malformed/path-not-origin-form',
    reason:
      'a :path that is neither origin-form nor `*` (malformed, RFC 9113 §8.3.1): nghttp2 resets the stream PROTOCOL_ERROR; the fast path answers 400 (route.ts, as for HTTP/1.1) and ends the stream, which §8.1.1 allows ("a server MAY send an HTTP response prior to closing or resetting the stream"); nothing is forwarded either way',
  },
];

export const NGINX_DIFFERENCES: readonly Difference[] = [
  {
    match:
      /^malformed\/(missing-path|empty-path|missing-method|missing-scheme|duplicate-method|duplicate-path|unknown-pseudo|status-in-request|content-length-(invalid|less-data|more-data|ended-by-headers|twice-same))$/,
    reason:
      'a malformed request (RFC 9113 §8.1.1, §8.3.1): nginx answers 400 (and sometimes resets the stream NO_ERROR after it), nodix resets the stream PROTOCOL_ERROR without a response; §8.1.1 allows both, and neither forwards anything',
  },
  {
    match:
      /^malformed\/(connection|keep-alive|proxy-connection|upgrade|transfer-encoding|te-gzip|pseudo-after-regular|value-leading-space)$/,
    reason:
      'nginx 1.22 does not check connection-specific fields and `te` (RFC 9113 §8.2.2), pseudo-header order (§8.3) or white space around a value (§8.2.1): it serves the request (Proxy-Connection even reaches the upstream); these requests are malformed, and nodix resets the stream PROTOCOL_ERROR (§8.1.1)',
  },
  {
    match: 'malformed/empty-name',
    reason:
      'an empty field name: nginx ends the connection (GOAWAY PROTOCOL_ERROR), nodix resets the stream (a malformed request is a stream error, RFC 9113 §8.1.1; nginx escalates, which §5.4.1 allows)',
  },
  {
    match:
      /^(valid\/trailers|valid\/trailers-after-content-length|malformed\/trailers-without-end-stream|malformed\/trailers-with-pseudo|frame\/headers-on-half-closed-stream)$/,
    reason:
      'a second HEADERS on a stream (request trailers, RFC 9113 §8.1): nginx 1.22 reads no request trailers, it takes any HEADERS on a stream id not above the last one for a connection error (GOAWAY PROTOCOL_ERROR); nodix reads trailers (and drops them, as it forwards none), and resets the stream when they are malformed or come on a stream the client ended',
  },
  {
    match: /^frame\/(window-update-0-stream|priority-wrong-size|priority-self-dependency)$/,
    reason:
      'a stream error (RFC 9113 §6.9: a zero increment on a stream; §6.3: a PRIORITY of the wrong size; §5.3.1: a stream depending on itself) that nginx makes a connection error (GOAWAY, which §5.4.1 allows); nodix resets the stream and goes on',
  },
  {
    match: /^frame\/(data-on-idle-stream|window-update-idle-stream|rst-stream-idle)$/,
    reason:
      'DATA, WINDOW_UPDATE or RST_STREAM on a stream that was never opened: nginx ignores them; RFC 9113 §5.1 (idle) requires a connection error PROTOCOL_ERROR, which nodix sends',
  },
  {
    match: /^frame\/(data-too-large|headers-too-large)$/,
    reason:
      'a frame of 16385 bytes: nginx announces SETTINGS_MAX_FRAME_SIZE 16777215 and reads it (a DATA frame is served; a 16 KB field is refused as over large_client_header_buffers, GOAWAY ENHANCE_YOUR_CALM); nodix keeps the default 16384 and answers FRAME_SIZE_ERROR (RFC 9113 §4.2)',
  },
  {
    match: 'hpack/truncated-string',
    reason:
      'a header block that ends inside a string literal: nginx says FRAME_SIZE_ERROR, nodix COMPRESSION_ERROR (RFC 9113 §4.3: a field block that cannot be decompressed)',
  },
  {
    match: 'hpack/table-size-update-after-field',
    reason:
      'a dynamic table size update after a field: nginx accepts it; RFC 7541 §4.2 requires it at the start of a field block, and nodix answers COMPRESSION_ERROR',
  },
  {
    match: 'valid/authority-and-same-host',
    reason:
      'a Host field next to an :authority that names the same host (RFC 9113 §8.3.1 allows it): nginx 1.22 turns :authority into Host and refuses the second Host with 400; nodix forwards the request',
  },
  {
    match: 'valid/unknown-host',
    reason:
      'an :authority no host of the route table serves: nodix answers 421 Misdirected Request (the connection cannot serve it, RFC 9110 §15.5.20), nginx the 404 of its default server',
  },
  {
    match: 'valid/connect',
    reason: 'CONNECT: nodix answers 405 (it makes no tunnels), nginx 400',
  },
  {
    match: 'valid/client-goaway',
    reason:
      "the client's GOAWAY with no stream open: nodix ends the connection, nginx keeps it open until its idle timeout (RFC 9113 §6.8 lets either)",
  },
];
