/**
 * Where nodix may answer differently from nginx 1.22 (configured as in harness.ts `nginxConfig`), each with the
 * reason it is accepted. Any other difference fails the conformance suite. Keys are `request/CASE` or
 * `response/CASE` (request-cases.ts, response-cases.ts), or patterns over them. An entry no case needs any more
 * is reported as stale. "Stricter" means nodix refuses (400/502) what nginx lets through, which for a proxy in
 * front of applications is the safe side of a parsing ambiguity.
 */
import type { NginxDifference } from './compare.js';

export const NGINX_DIFFERENCES: readonly NginxDifference[] = [
  {
    match: /^request\/te\/(two-headers|two-headers-identity-last|two-headers-gzip-first)$/,
    reason:
      'two Transfer-Encoding lines: nginx refuses the duplicate with 400; nodix reads them as one list (RFC 9110 §5.3), which names a coding other than a single chunked, and answers 501 as for `chunked, chunked`; neither forwards anything',
  },
  // --- requests: nodix stricter ------------------------------------------------------------------------------
  {
    match:
      /^request\/(header|host-syntax|te|line)\/bare-lf|^request\/header\/(bare-lf-everywhere|bare-lf-end|crlf-lf-end)$/,
    reason:
      'bare LF as a line end: nginx accepts it (RFC 9112 §2.2 MAY), node:http refuses with 400 (a classic desync lever)',
  },
  {
    match: /^request\/te\/(cr-after)$/,
    reason: 'a bare CR inside a header value: nginx keeps it, nodix refuses with 400',
  },
  {
    match: /^request\/header\/(ctl-value|del-value)$/,
    reason:
      'control characters in a header value: nginx forwards them (the test upstream then refuses the request, 502), nodix answers 400 (RFC 9110 §5.5)',
  },
  {
    match: /^request\/te\/(vtab|ff)-before$/,
    reason:
      "a VT or FF before `chunked` in Transfer-Encoding: a control character in a field value (RFC 9110 §5.5), which node:http's parser refuses with 400; nginx reads it as an unknown coding and answers 501; neither forwards anything",
  },
  {
    match: /^request\/(header\/(latin1-name|paren-name|slash-name)|(te|cl\.te|te\.cl)\/non-ascii-name)$/,
    reason:
      'a header name that is not a token: nginx drops the line (ignore_invalid_headers on) and carries on, nodix refuses the request with 400',
  },
  {
    match:
      /^request\/(host-syntax\/(latin1-value|utf8-value|nbsp-before-value|nbsp-after-value)|host\/(leading-dot|with-query|with-userinfo|ipv6-unclosed|backslash|percent-encoded)|nbsp\/host-(split|one-read))$/,
    reason:
      'a Host that is not a host name: nodix answers 400 (RFC 9112 §3.2: invalid Host), nginx routes it to the default server (404)',
  },
  {
    match: /^request\/host\/port-word$/,
    reason: 'a Host with a non-numeric port: nodix answers 400, nginx ignores the port',
  },
  {
    match: /^request\/line\/(trailing-space|http-1\.2|http-1\.10|latin1-target|utf8-target|long-method)$/,
    reason:
      "request lines nginx reads leniently (trailing space, HTTP/1.x with x > 1, raw non-ASCII targets, any token as method); node:http's parser refuses them with 400",
  },
  {
    match: /^request\/absolute\/ftp$/,
    reason:
      'an absolute-form target with a scheme other than http(s): nodix answers 400 (a reverse proxy for http origins), nginx routes by the authority',
  },
  {
    match: /^request\/(cl\.te|te\.cl)\/(?!non-ascii-name$|underscore$|empty$).*/,
    reason:
      "Content-Length together with a Transfer-Encoding that is not exactly chunked: node:http's parser refuses the request with 400, nginx with 501; both refuse, nothing reaches the upstream",
  },
  // --- requests: nginx stricter ------------------------------------------------------------------------------
  {
    match: /^request\/(te\/leading-tab|cl\/leading-tab|host-syntax\/many-ows)$/,
    reason:
      'a tab before a header value: nginx 1.22 refuses it for Transfer-Encoding, Content-Length and Host; HTAB is optional whitespace (RFC 9110 §5.6.3), nodix strips it',
  },
  {
    match: /^request\/cl\/overflow-2\^32\+5$/,
    reason:
      'a 4 GB Content-Length: nginx answers 413 (client_max_body_size 1m), nodix has no body size limit and waits for the body',
  },
  {
    match: /^request\/basic\/trace$/,
    reason: 'TRACE: nginx answers 405 itself, nodix passes it to the application (which decides)',
  },
  {
    match: /^request\/basic\/connect$/,
    reason: 'CONNECT: node:http closes the connection (a reverse proxy does not tunnel), nginx answers 400',
  },
  {
    match: /^request\/line\/no-version$/,
    reason:
      'a request line without version (an HTTP/0.9 simple request): nginx answers it the HTTP/0.9 way (a bare page, no status line), nodix answers 400 (it speaks HTTP/1.x only)',
  },
  {
    match: /^request\/line\/http-11$/,
    reason:
      "`HTTP/11` as version: node:http's parser refuses the line (400), nginx reads it as version 11 and answers 505; both refuse",
  },
  {
    match: /^request\/line\/encoded-nul$/,
    reason:
      '%00 in the path: nginx refuses it with 400, nodix forwards the target as it came (the application decodes it, and decides)',
  },
  {
    match: /^request\/cl\/zero-with-bytes-after$/,
    reason:
      'a byte behind a complete request that cannot start a method node:http knows (`X`): nodix answers the request, then 400 at once; nginx (any token is a method) waits for the rest of the line until its timeout',
  },
  {
    match: /^request\/http1\.0\/chunked$/,
    reason:
      'chunked in an HTTP/1.0 request: node:http reads it, nginx refuses with 400 (RFC 9112 §6.1 lets either)',
  },
  {
    match: /^request\/expect\/unknown$/,
    reason:
      'an Expect other than 100-continue: node:http answers 417 (RFC 9110 §10.1.1 MAY), nginx ignores it',
  },
  {
    match:
      /^request\/limits\/(header-line-17000|header-line-33000|headers-1000|headers-1999|headers-2001|second-host-after-2000|head-over-16k-short-lines|tiny-headers-2001|second-host-after-2000-tiny)$/,
    reason:
      "head limits differ: nodix's maxHeaderSize (16 KB, whole head) and its 2000 header lines give 431 (RFC 6585 §5), nginx's large_client_header_buffers (4 x 16k, per line and per buffer) give 400 at other sizes",
  },
  // --- requests: forwarding ----------------------------------------------------------------------------------
  {
    match:
      /^request\/connection\/(names-custom|names-custom-upper|two-headers|list-close-custom|proxy-connection|trailer|upgrade-h2c|upgrade-websocket-no-key)$/,
    reason:
      "hop-by-hop headers: nodix removes the headers a client's Connection names and Proxy-Connection/Trailer/HTTP2-Settings (RFC 9110 §7.6.1), nginx forwards them; nodix passes Upgrade on (its upgrade path), nginx drops it without proxy_set_header Upgrade",
  },
  {
    match: /^request\/absolute\/(other-known-host|unknown-in-host|port|uppercase)$/,
    reason:
      "absolute-form: nodix sends the target's authority as Host (RFC 9112 §3.2.2), nginx routes by it too but its $http_host is the client's Host header",
  },
  // --- responses ---------------------------------------------------------------------------------------------
  {
    match:
      /^response\/framing\/(length-and-chunked|duplicate-length-different|length-list|length-negative|length-plus|length-hex|length-huge)$/,
    reason:
      'upstream framing nodix will not guess at (Content-Length with Transfer-Encoding, conflicting, listed or malformed Content-Length): nodix answers 502, nginx picks a reading',
  },
  {
    match: /^response\/(status\/bare-lf|header\/no-colon)$/,
    reason:
      'a response head with bare LF line ends or a line without colon: nginx accepts it, nodix answers 502',
  },
  {
    match: /^response\/status\/(code-99|code-2000|code-letters|http2|lowercase-http|garbage|http0\.9-body)$/,
    reason:
      'no valid status line: nodix answers 502, nginx passes the bytes through as an HTTP/0.9 response (which the client cannot read as HTTP/1.1)',
  },
  {
    match: /^response\/(interim\/|split\/interim-boundary$)/,
    reason:
      'a 1xx before the final response: nodix skips it and forwards the final response, nginx 1.22 does not take 1xx from an upstream (the client gets nothing readable)',
  },
  {
    match:
      /^response\/(hop\/(names-content-length|names-custom|names-set-cookie|proxy-connection|upgrade-in-200|te-header|trailer|two-connection-headers)|framing\/chunked-trailers)$/,
    reason:
      "hop-by-hop response headers: nodix removes the headers the upstream's Connection names and Proxy-Connection/Upgrade/TE/Trailer (RFC 9110 §7.6.1; trailers are dropped, so is Trailer), nginx forwards them",
  },
  {
    match: /^response\/header\/(del-value|slash-name)$/,
    reason:
      'a DEL in a response header value, or a header name that is not a token: nginx forwards the response (without the DEL), nodix answers 502 as for any malformed upstream head (RFC 9110 §5.5, §5.1): the same rule as for requests',
  },
  {
    match: /^response\/header\/long-value-8k$/,
    reason: "an 8 KB response header: nginx's proxy_buffer_size (4k/8k) gives 502, nodix forwards it",
  },
];
