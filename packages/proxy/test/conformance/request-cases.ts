/**
 * The request table: raw requests as a hostile or sloppy client would send them, each with a readable name.
 * Families (a list of variants × a few templates) are generated; one-off cases are spelled out. Names are
 * `family/variant`, stable, so that the allow-list and the pending list can refer to them.
 */
import type { Script } from './harness.js';

export interface RequestCase {
  name: string;
  /** The bytes, in the pieces they are written (latin1). */
  chunks: string[];
  /** Methods of the requests sent, in order (how many final responses to wait for). Default: the first word. */
  methods?: string[];
  /** Pause between pieces, ms. */
  gapMs?: number;
  /** How the upstream answers this case's requests (default: echoResponse). */
  respond?: Partial<Script>;
}

const HOST = 'Host: a.test\r\n';
const BODY_CHUNKED = '5\r\nhello\r\n0\r\n\r\n';

/** A request in one piece: request line, header lines (each without CRLF), body. */
export function raw(line: string, headers: string[], body = ''): string {
  return `${line}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${body}`;
}

const cases: RequestCase[] = [];
function add(name: string, chunks: string | string[], extra: Partial<RequestCase> = {}): void {
  cases.push({ name, chunks: typeof chunks === 'string' ? [chunks] : chunks, ...extra });
}

// --- plain requests: the baseline every front end must agree on --------------------------------------------
add('basic/get', raw('GET / HTTP/1.1', ['Host: a.test']));
add('basic/get-query', raw('GET /p/q?x=1&y=%20z HTTP/1.1', ['Host: a.test']));
add('basic/head', raw('HEAD /h HTTP/1.1', ['Host: a.test']));
add('basic/post-length', raw('POST /p HTTP/1.1', ['Host: a.test', 'Content-Length: 5'], 'hello'));
add(
  'basic/post-chunked',
  raw('POST /p HTTP/1.1', ['Host: a.test', 'Transfer-Encoding: chunked'], BODY_CHUNKED),
);
add(
  'basic/post-chunked-ext-trailer',
  raw(
    'POST /p HTTP/1.1',
    ['Host: a.test', 'Transfer-Encoding: chunked'],
    '5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n',
  ),
);
add('basic/put', raw('PUT /p HTTP/1.1', ['Host: a.test', 'Content-Length: 3'], 'abc'));
add('basic/patch', raw('PATCH /p HTTP/1.1', ['Host: a.test', 'Content-Length: 3'], 'abc'));
add('basic/delete', raw('DELETE /d HTTP/1.1', ['Host: a.test']));
add('basic/options', raw('OPTIONS /o HTTP/1.1', ['Host: a.test']));
add('basic/options-star', raw('OPTIONS * HTTP/1.1', ['Host: a.test']));
add('basic/trace', raw('TRACE / HTTP/1.1', ['Host: a.test']));
add('basic/custom-method', raw('PURGE /x HTTP/1.1', ['Host: a.test']));
add('basic/lowercase-method', raw('get / HTTP/1.1', ['Host: a.test']));
add('basic/get-with-body', raw('GET / HTTP/1.1', ['Host: a.test', 'Content-Length: 5'], 'hello'));
add('basic/post-empty', raw('POST /p HTTP/1.1', ['Host: a.test', 'Content-Length: 0']));
add('basic/post-no-length', raw('POST /p HTTP/1.1', ['Host: a.test']));
add(
  'basic/post-chunked-empty',
  raw('POST /p HTTP/1.1', ['Host: a.test', 'Transfer-Encoding: chunked'], '0\r\n\r\n'),
);
add('basic/header-order-case', raw('GET / HTTP/1.1', ['x-b: 2', 'HOST: a.test', 'X-A: 1', 'x-a: 3']));
add('basic/second-host-b', raw('GET / HTTP/1.1', ['Host: b.test']));
add('basic/unknown-host', raw('GET / HTTP/1.1', ['Host: unknown.test']));
add(
  'basic/cookie-ua',
  raw('GET / HTTP/1.1', ['Host: a.test', 'User-Agent: t/1', 'Cookie: a=1; b=2', 'Accept: */*']),
);
add('basic/connect', raw('CONNECT a.test:443 HTTP/1.1', ['Host: a.test:443']));
add('basic/pri-preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', { methods: ['PRI'] });
add('basic/garbage', 'HELLO\r\n\r\n', { methods: ['X'] });
add('basic/binary', '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03', { methods: ['X'] });

// --- Transfer-Encoding obfuscation (TE alone, CL.TE, TE.CL) -------------------------------------------------
/** Header lines carrying a Transfer-Encoding that some reader might take for `chunked`. */
const TE_VARIANTS: Record<string, string[]> = {
  plain: ['Transfer-Encoding: chunked'],
  upper: ['Transfer-Encoding: CHUNKED'],
  mixed: ['TRANSFER-encoding: Chunked'],
  'leading-space': ['Transfer-Encoding:  chunked'],
  'trailing-space': ['Transfer-Encoding: chunked '],
  'leading-tab': ['Transfer-Encoding:\tchunked'],
  'trailing-tab': ['Transfer-Encoding: chunked\t'],
  'no-space': ['Transfer-Encoding:chunked'],
  'vtab-before': ['Transfer-Encoding: \x0bchunked'],
  'ff-before': ['Transfer-Encoding: \x0cchunked'],
  'nbsp-before': ['Transfer-Encoding: \xa0chunked'],
  'nbsp-after': ['Transfer-Encoding: chunked\xa0'],
  'nul-inside': ['Transfer-Encoding: chu\x00nked'],
  'cr-after': ['Transfer-Encoding: chunked\r'],
  'x-prefix': ['Transfer-Encoding: xchunked'],
  'x-suffix': ['Transfer-Encoding: chunkedx'],
  quoted: ['Transfer-Encoding: "chunked"'],
  param: ['Transfer-Encoding: chunked;q=1'],
  'chunked-chunked': ['Transfer-Encoding: chunked, chunked'],
  'identity-chunked': ['Transfer-Encoding: identity, chunked'],
  'gzip-chunked': ['Transfer-Encoding: gzip, chunked'],
  'chunked-gzip': ['Transfer-Encoding: chunked, gzip'],
  'chunked-identity': ['Transfer-Encoding: chunked, identity'],
  identity: ['Transfer-Encoding: identity'],
  gzip: ['Transfer-Encoding: gzip'],
  empty: ['Transfer-Encoding:'],
  'comma-only': ['Transfer-Encoding: ,'],
  'leading-comma': ['Transfer-Encoding: , chunked'],
  'two-headers': ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'],
  'two-headers-gzip-first': ['Transfer-Encoding: gzip', 'Transfer-Encoding: chunked'],
  'two-headers-identity-last': ['Transfer-Encoding: chunked', 'Transfer-Encoding: identity'],
  'space-before-colon': ['Transfer-Encoding : chunked'],
  'tab-before-colon': ['Transfer-Encoding\t: chunked'],
  underscore: ['Transfer_Encoding: chunked'],
  'obs-fold': ['Transfer-Encoding:', ' chunked'],
  'obs-fold-tab': ['Transfer-Encoding: x', '\tchunked'],
  'bare-lf-before': ['X-A: 1\nTransfer-Encoding: chunked'],
  'bare-cr-before': ['X-A: 1\rTransfer-Encoding: chunked'],
  'leading-space-name': ['X-A: 1', ' Transfer-Encoding: chunked'],
  'non-ascii-name': ['Transfer-Encodin\xe7: chunked'],
};
const SMUGGLED = raw('GET /smuggled HTTP/1.1', ['Host: a.test']);
for (const [variant, lines] of Object.entries(TE_VARIANTS)) {
  add(`te/${variant}`, raw('POST /te HTTP/1.1', [HOST.trim(), ...lines], BODY_CHUNKED));
  // CL.TE: a front end that frames by Content-Length passes the smuggled request inside the body.
  const clte = `0\r\n\r\n${SMUGGLED}`;
  add(
    `cl.te/${variant}`,
    raw('POST /clte HTTP/1.1', [HOST.trim(), `Content-Length: ${clte.length}`, ...lines], clte),
  );
  // TE.CL: a front end that frames by chunks passes a body whose first 4 bytes are all a CL reader takes.
  const chunk = `${SMUGGLED}`;
  const tecl = `${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`;
  // Where the Transfer-Encoding line is not one (a name with `_`), Content-Length frames: POST, the smuggled GET
  // and the chunk's tail as a bad request line; all three answers are waited for.
  add(
    `te.cl/${variant}`,
    raw('POST /tecl HTTP/1.1', [HOST.trim(), ...lines, 'Content-Length: 4'], tecl),
    variant === 'underscore' ? { methods: ['POST', 'GET', 'X'] } : {},
  );
}

// --- Content-Length spellings ------------------------------------------------------------------------------
const CL_VARIANTS: Record<string, string> = {
  plain: '5',
  'leading-zero': '05',
  'many-zeros': '0000000005',
  plus: '+5',
  minus: '-5',
  'minus-zero': '-0',
  'leading-space': ' 5',
  'trailing-space': '5 ',
  'leading-tab': '\t5',
  'trailing-tab': '5\t',
  'inner-space': '5 5',
  hex: '0x5',
  decimal: '5.0',
  exponent: '5e0',
  'list-same': '5,5',
  'list-same-space': '5, 5',
  'list-different': '5,6',
  'list-trailing-comma': '5,',
  empty: '',
  word: 'five',
  'nbsp-before': '\xa05',
  'nbsp-after': '5\xa0',
  'vtab-before': '\x0b5',
  'nul-after': '5\x00',
  'fullwidth-digit': '\xef\xbc\x95',
  'overflow-2^64+5': '18446744073709551621',
  'overflow-2^32+5': '4294967301',
  'twenty-digits': '00000000000000000005',
  huge: '99999999999999999999',
};
for (const [variant, value] of Object.entries(CL_VARIANTS)) {
  add(`cl/${variant}`, raw('POST /cl HTTP/1.1', [HOST.trim(), `Content-Length: ${value}`], 'hello'));
}
add(
  'cl/duplicate-same',
  raw('POST /cl HTTP/1.1', [HOST.trim(), 'Content-Length: 5', 'Content-Length: 5'], 'hello'),
);
add(
  'cl/duplicate-different',
  raw('POST /cl HTTP/1.1', [HOST.trim(), 'Content-Length: 5', 'Content-Length: 6'], 'hello!'),
);
add(
  'cl/duplicate-different-smaller-last',
  raw('POST /cl HTTP/1.1', [HOST.trim(), 'Content-Length: 6', 'Content-Length: 5'], 'hello!'),
);
add(
  'cl/duplicate-case',
  raw('POST /cl HTTP/1.1', [HOST.trim(), 'content-length: 5', 'CONTENT-LENGTH: 5'], 'hello'),
);
add('cl/space-before-colon', raw('POST /cl HTTP/1.1', [HOST.trim(), 'Content-Length : 5'], 'hello'));
add('cl/underscore', raw('POST /cl HTTP/1.1', [HOST.trim(), 'Content_Length: 5'], 'hello'));
add('cl/obs-fold', raw('POST /cl HTTP/1.1', [HOST.trim(), 'Content-Length:', ' 5'], 'hello'));
add('cl/short-body-more-bytes', raw('POST /cl HTTP/1.1', [HOST.trim(), 'Content-Length: 3'], 'abc'));
add('cl/zero-with-bytes-after', raw('POST /cl HTTP/1.1', [HOST.trim(), 'Content-Length: 0'], 'X'), {
  methods: ['POST', 'X'],
});
add('cl/body-larger-than-declared', raw('POST /cl HTTP/1.1', [HOST.trim(), 'Content-Length: 2'], 'hello'), {
  methods: ['POST', 'X'],
});

// --- header syntax: each trick on a harmless header and on Host ---------------------------------------------
const SYNTAX: Record<string, (name: string, value: string) => string[]> = {
  'space-before-colon': (n, v) => [`${n} : ${v}`],
  'tab-before-colon': (n, v) => [`${n}\t: ${v}`],
  'obs-fold-space': (n, v) => [`${n}: ${v}`, ' folded'],
  'obs-fold-tab': (n, v) => [`${n}: ${v}`, '\tfolded'],
  'leading-space-line': (n, v) => ['X-Before: 1', ` ${n}: ${v}`],
  'bare-lf': (n, v) => [`${n}: ${v}\nX-After: 1`],
  'bare-cr': (n, v) => [`${n}: ${v}\rX-After: 1`],
  'nul-value': (n, v) => [`${n}: ${v}\x00x`],
  'ctl-value': (n, v) => [`${n}: ${v}\x01`],
  'del-value': (n, v) => [`${n}: ${v}\x7f`],
  'latin1-value': (n, v) => [`${n}: ${v}\xe9`],
  'utf8-value': (n, v) => [`${n}: ${v}\xc3\xa9`],
  'nbsp-before-value': (n, v) => [`${n}:\xa0${v}`],
  'nbsp-after-value': (n, v) => [`${n}: ${v}\xa0`],
  'tab-in-value': (n, v) => [`${n}: ${v}\tx`],
  'no-ows': (n, v) => [`${n}:${v}`],
  'many-ows': (n, v) => [`${n}:  \t ${v} \t `],
  'nul-name': (n, v) => [`${n}\x00: ${v}`],
  'latin1-name': (n, v) => [`${n}\xe9: ${v}`],
  'space-in-name': (n, v) => [`${n.slice(0, 1)} ${n.slice(1)}: ${v}`],
  'paren-name': (n, v) => [`${n}(): ${v}`],
  'slash-name': (n, v) => [`${n}/x: ${v}`],
  'colon-in-value': (n, v) => [`${n}: ${v}:x: y`],
  'spaces-only-value': (n) => [`${n}:   `],
};
for (const [variant, make] of Object.entries(SYNTAX)) {
  add(`header/${variant}`, raw('GET /hdr HTTP/1.1', [HOST.trim(), ...make('X-Test', 'v')]));
  add(`host-syntax/${variant}`, raw('GET /hdr HTTP/1.1', make('Host', 'a.test')));
}
add('header/no-colon', raw('GET / HTTP/1.1', [HOST.trim(), 'X-Test v']));
add('header/empty-name', raw('GET / HTTP/1.1', [HOST.trim(), ': v']));
add('header/empty-value', raw('GET / HTTP/1.1', [HOST.trim(), 'X-Test:']));
add('header/only-colon-line', raw('GET / HTTP/1.1', [HOST.trim(), ':']));
add('header/whitespace-line', raw('GET / HTTP/1.1', [HOST.trim(), ' ']));
add('header/first-line-folded', raw('GET / HTTP/1.1', [' X-Test: v', HOST.trim()]));
add('header/bare-lf-everywhere', 'GET / HTTP/1.1\nHost: a.test\nX-Test: v\n\n');
add('header/bare-lf-end', 'GET / HTTP/1.1\r\nHost: a.test\r\n\n');
add('header/crlf-lf-end', 'GET / HTTP/1.1\r\nHost: a.test\n\r\n');

// --- request line -------------------------------------------------------------------------------------------
const LINES: Record<string, string> = {
  'double-space': 'GET  / HTTP/1.1',
  'trailing-space': 'GET / HTTP/1.1 ',
  'tab-separated': 'GET\t/\tHTTP/1.1',
  'lowercase-version': 'GET / http/1.1',
  'http-1.0': 'GET / HTTP/1.0',
  'http-0.9': 'GET / HTTP/0.9',
  'http-1.2': 'GET / HTTP/1.2',
  'http-2.0': 'GET / HTTP/2.0',
  'http-1.10': 'GET / HTTP/1.10',
  'http-11': 'GET / HTTP/11',
  'no-version': 'GET /',
  'no-target': 'GET HTTP/1.1',
  'no-method': '/ HTTP/1.1',
  'nul-method': 'G\x00T / HTTP/1.1',
  'space-in-target': 'GET /a b HTTP/1.1',
  'latin1-target': 'GET /\xe9 HTTP/1.1',
  'utf8-target': 'GET /\xc3\xa9 HTTP/1.1',
  'ctl-target': 'GET /\x01 HTTP/1.1',
  'del-target': 'GET /\x7f HTTP/1.1',
  'encoded-nul': 'GET /%00 HTTP/1.1',
  fragment: 'GET /p#frag HTTP/1.1',
  'double-slash': 'GET //double HTTP/1.1',
  'dot-segments': 'GET /a/../b/./c HTTP/1.1',
  'encoded-slash': 'GET /a%2fb HTTP/1.1',
  backslash: 'GET /a\\b HTTP/1.1',
  'star-get': 'GET * HTTP/1.1',
  'authority-get': 'GET a.test:80 HTTP/1.1',
  'relative-target': 'GET p HTTP/1.1',
  'query-only': 'GET ?x=1 HTTP/1.1',
  'long-target-8k': `GET /${'t'.repeat(8000)} HTTP/1.1`,
  'long-method': `${'M'.repeat(100)} / HTTP/1.1`,
};
for (const [variant, line] of Object.entries(LINES)) add(`line/${variant}`, raw(line, [HOST.trim()]));
add('line/leading-crlf', `\r\n${raw('GET / HTTP/1.1', [HOST.trim()])}`, { methods: ['GET'] });
add('line/leading-lf', `\n${raw('GET / HTTP/1.1', [HOST.trim()])}`, { methods: ['GET'] });
add('line/bare-lf', 'GET / HTTP/1.1\nHost: a.test\r\n\r\n');

// --- absolute-form targets ----------------------------------------------------------------------------------
const ABSOLUTE: Record<string, [string, string[]]> = {
  same: ['http://a.test/abs', ['Host: a.test']],
  'other-known-host': ['http://b.test/abs', ['Host: a.test']],
  'unknown-in-target': ['http://unknown.test/abs', ['Host: a.test']],
  'unknown-in-host': ['http://a.test/abs', ['Host: unknown.test']],
  'no-host-header': ['http://a.test/abs', []],
  'two-hosts': ['http://a.test/abs', ['Host: a.test', 'Host: b.test']],
  'two-hosts-unknown': ['http://a.test/abs', ['Host: evil.test', 'Host: b.test']],
  https: ['https://a.test/abs', ['Host: a.test']],
  'no-path': ['http://a.test', ['Host: a.test']],
  'query-no-path': ['http://a.test?x=1', ['Host: a.test']],
  port: ['http://a.test:80/abs', ['Host: a.test']],
  userinfo: ['http://user@a.test/abs', ['Host: a.test']],
  uppercase: ['HTTP://A.TEST/abs', ['Host: a.test']],
  ftp: ['ftp://a.test/abs', ['Host: a.test']],
  'empty-authority': ['http:///abs', ['Host: a.test']],
};
for (const [variant, [target, headers]] of Object.entries(ABSOLUTE)) {
  add(`absolute/${variant}`, raw(`GET ${target} HTTP/1.1`, headers));
}

// --- Host ---------------------------------------------------------------------------------------------------
const HOST_VALUES: Record<string, string[]> = {
  missing: [],
  'duplicate-same': ['Host: a.test', 'Host: a.test'],
  'duplicate-different': ['Host: a.test', 'Host: b.test'],
  'duplicate-unknown-first': ['Host: evil.test', 'Host: a.test'],
  'duplicate-case': ['Host: a.test', 'HOST: a.test'],
  empty: ['Host:'],
  upper: ['Host: A.TEST'],
  'port-80': ['Host: a.test:80'],
  'port-other': ['Host: a.test:8080'],
  'port-empty': ['Host: a.test:'],
  'port-word': ['Host: a.test:abc'],
  'trailing-dot': ['Host: a.test.'],
  'leading-dot': ['Host: .a.test'],
  'double-dot': ['Host: a..test'],
  list: ['Host: a.test, b.test'],
  'with-path': ['Host: a.test/x'],
  'with-query': ['Host: a.test?x'],
  'with-userinfo': ['Host: user@a.test'],
  underscore: ['Host: a_test'],
  ipv4: ['Host: 127.0.0.1'],
  ipv6: ['Host: [::1]'],
  'ipv6-unclosed': ['Host: [::1'],
  'space-inside': ['Host: a .test'],
  backslash: ['Host: a.test\\x'],
  'percent-encoded': ['Host: a%2etest'],
  'very-long': [`Host: ${'a'.repeat(300)}.test`],
};
for (const [variant, headers] of Object.entries(HOST_VALUES)) {
  add(`host/${variant}`, raw('GET /host HTTP/1.1', headers));
}
for (const variant of ['missing', 'duplicate-different', 'empty', 'upper', 'port-80']) {
  add(`host-1.0/${variant}`, raw('GET /host HTTP/1.0', HOST_VALUES[variant]!));
}

// --- Connection tokens --------------------------------------------------------------------------------------
const CONNECTION: Record<string, string[]> = {
  close: ['Connection: close'],
  'close-upper': ['Connection: CLOSE'],
  'keep-alive': ['Connection: keep-alive'],
  'names-content-length': ['Connection: content-length', 'Content-Length: 5'],
  'names-transfer-encoding': ['Connection: transfer-encoding', 'Transfer-Encoding: chunked'],
  'names-host': ['Connection: host'],
  'names-x-forwarded-for': ['Connection: x-forwarded-for', 'X-Forwarded-For: 1.2.3.4'],
  'names-custom': ['Connection: x-test', 'X-Test: v'],
  'names-custom-upper': ['Connection: X-TEST', 'x-test: v'],
  'names-te': ['Connection: te', 'TE: trailers'],
  'names-expect': ['Connection: expect'],
  'upgrade-without-header': ['Connection: upgrade'],
  'two-headers': ['Connection: keep-alive', 'Connection: x-test', 'X-Test: v'],
  'list-close-custom': ['Connection: close, x-test', 'X-Test: v'],
  'unknown-token': ['Connection: foo'],
  empty: ['Connection:'],
  'keep-alive-header': ['Connection: keep-alive', 'Keep-Alive: timeout=5'],
  'proxy-connection': ['Proxy-Connection: keep-alive'],
  te: ['TE: trailers'],
  trailer: ['Trailer: X-Test'],
  'upgrade-h2c': ['Connection: Upgrade, HTTP2-Settings', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAAQAAP__'],
  'upgrade-websocket-no-key': ['Connection: Upgrade', 'Upgrade: websocket'],
};
for (const [variant, headers] of Object.entries(CONNECTION)) {
  const body = headers.some((h) => h.startsWith('Content-Length'))
    ? 'hello'
    : headers.some((h) => h.startsWith('Transfer-Encoding'))
      ? BODY_CHUNKED
      : '';
  add(
    `connection/${variant}`,
    raw(`${body === '' ? 'GET' : 'POST'} /conn HTTP/1.1`, [HOST.trim(), ...headers], body),
  );
}

// --- underscores, X-Forwarded-*, Expect ---------------------------------------------------------------------
const UNDERSCORE: Record<string, string[]> = {
  custom: ['X_Test: v'],
  'x-forwarded-for': ['X_Forwarded_For: 6.6.6.6'],
  'x-forwarded-host': ['X_Forwarded_Host: evil.test'],
  'content-length': ['Content_Length: 5'],
  'transfer-encoding': ['Transfer_Encoding: chunked'],
  leading: ['_X: v'],
  // An underscore in one line's value, then in a later line's name; names after a line with one.
  'value-then-name': ['X-Value: a_b', 'X_Test: v'],
  'value-only': ['X-Value: a_b', 'X-Other: v'],
  'name-plain-name': ['X_One: 1', 'X-Plain: 2', 'X_Two: 3'],
};
for (const [variant, headers] of Object.entries(UNDERSCORE)) {
  add(`underscore/${variant}`, raw('GET /u HTTP/1.1', [HOST.trim(), ...headers]));
}
add('forwarded/spoofed-xff', raw('GET / HTTP/1.1', [HOST.trim(), 'X-Forwarded-For: 6.6.6.6']));
add(
  'forwarded/spoofed-all',
  raw('GET / HTTP/1.1', [
    HOST.trim(),
    'X-Forwarded-For: 6.6.6.6',
    'X-Forwarded-Proto: https',
    'X-Forwarded-Host: evil.test',
  ]),
);
add('forwarded/forwarded-header', raw('GET / HTTP/1.1', [HOST.trim(), 'Forwarded: for=6.6.6.6']));
add('forwarded/x-real-ip', raw('GET / HTTP/1.1', [HOST.trim(), 'X-Real-IP: 6.6.6.6']));
add(
  'expect/100-continue-with-body',
  raw('POST /e HTTP/1.1', [HOST.trim(), 'Expect: 100-continue', 'Content-Length: 5'], 'hello'),
);
add(
  'expect/100-continue-upper',
  raw('POST /e HTTP/1.1', [HOST.trim(), 'Expect: 100-Continue', 'Content-Length: 5'], 'hello'),
);
add('expect/100-continue-no-body', raw('GET /e HTTP/1.1', [HOST.trim(), 'Expect: 100-continue']));
add('expect/100-continue-body-later', [
  raw('POST /e HTTP/1.1', [HOST.trim(), 'Expect: 100-continue', 'Content-Length: 5']),
  'hello',
]);
add(
  'expect/100-continue-chunked',
  raw('POST /e HTTP/1.1', [HOST.trim(), 'Expect: 100-continue', 'Transfer-Encoding: chunked'], BODY_CHUNKED),
);
add('expect/unknown', raw('GET /e HTTP/1.1', [HOST.trim(), 'Expect: tea']));
add(
  'expect/1.0',
  raw('POST /e HTTP/1.0', [HOST.trim(), 'Expect: 100-continue', 'Content-Length: 5'], 'hello'),
);

// --- sizes and counts ---------------------------------------------------------------------------------------
for (const size of [4000, 8000, 15000, 17000, 33000]) {
  add(`limits/header-line-${size}`, raw('GET / HTTP/1.1', [HOST.trim(), `X-Long: ${'v'.repeat(size)}`]));
}
const many = (n: number) => Array.from({ length: n }, (_, i) => `X-H${i}: ${i}`);
for (const n of [100, 1000, 1999, 2001])
  add(`limits/headers-${n}`, raw('GET / HTTP/1.1', [HOST.trim(), ...many(n)]));
add('limits/second-host-after-2000', raw('GET / HTTP/1.1', [HOST.trim(), ...many(2000), 'Host: b.test']));
// Short lines, so that 2000 of them stay under the 16 KB head limit: node:http's header count limit decides.
const tiny = (n: number) => Array.from({ length: n }, () => 'a: b');
add('limits/tiny-headers-2001', raw('GET / HTTP/1.1', [HOST.trim(), ...tiny(2000)]));
add(
  'limits/second-host-after-2000-tiny',
  raw('GET / HTTP/1.1', [HOST.trim(), ...tiny(1999), 'Host: b.test']),
);
add(
  'limits/head-over-16k-short-lines',
  raw('GET / HTTP/1.1', [HOST.trim(), ...many(1500).map((l) => `${l}-pad`)]),
);
add('limits/body-64k', raw('POST /big HTTP/1.1', [HOST.trim(), 'Content-Length: 65536'], 'b'.repeat(65536)));

// --- HTTP/1.0 and keep-alive ---------------------------------------------------------------------------------
add('http1.0/plain', raw('GET / HTTP/1.0', [HOST.trim()]));
add('http1.0/keep-alive', raw('GET / HTTP/1.0', [HOST.trim(), 'Connection: keep-alive']));
add(
  'http1.0/keep-alive-twice',
  [
    raw('GET /1 HTTP/1.0', [HOST.trim(), 'Connection: keep-alive']),
    raw('GET /2 HTTP/1.0', [HOST.trim(), 'Connection: keep-alive']),
  ],
  { methods: ['GET', 'GET'] },
);
add('http1.0/post', raw('POST / HTTP/1.0', [HOST.trim(), 'Content-Length: 5'], 'hello'));
add('http1.0/chunked', raw('POST / HTTP/1.0', [HOST.trim(), 'Transfer-Encoding: chunked'], BODY_CHUNKED));
add('http1.0/head', raw('HEAD / HTTP/1.0', [HOST.trim()]));
add(
  'http1.1/two-on-one-connection',
  [raw('GET /1 HTTP/1.1', [HOST.trim()]), raw('GET /2 HTTP/1.1', [HOST.trim()])],
  { methods: ['GET', 'GET'] },
);
add(
  'http1.1/close-then-more',
  raw('GET /1 HTTP/1.1', [HOST.trim(), 'Connection: close']) + raw('GET /2 HTTP/1.1', [HOST.trim()]),
  { methods: ['GET', 'GET'] },
);

// --- pipelining ---------------------------------------------------------------------------------------------
const G = (p: string) => raw(`GET ${p} HTTP/1.1`, [HOST.trim()]);
const P = (p: string, body = 'hello') =>
  raw(`POST ${p} HTTP/1.1`, [HOST.trim(), `Content-Length: ${body.length}`], body);
add('pipeline/two-gets', G('/1') + G('/2'), { methods: ['GET', 'GET'] });
add('pipeline/three-gets', G('/1') + G('/2') + G('/3'), { methods: ['GET', 'GET', 'GET'] });
add('pipeline/get-head-get', G('/1') + raw('HEAD /2 HTTP/1.1', [HOST.trim()]) + G('/3'), {
  methods: ['GET', 'HEAD', 'GET'],
});
add('pipeline/get-post', G('/1') + P('/2'), { methods: ['GET', 'POST'] });
add('pipeline/post-get', P('/1') + G('/2'), { methods: ['POST', 'GET'] });
add(
  'pipeline/chunked-get',
  raw('POST /1 HTTP/1.1', [HOST.trim(), 'Transfer-Encoding: chunked'], BODY_CHUNKED) + G('/2'),
  { methods: ['POST', 'GET'] },
);
add('pipeline/two-posts-one-at-a-time', P('/1') + P('/2'), {
  methods: ['POST', 'POST'],
  respond: { delayMs: 40 },
});
add('pipeline/four-gets-one-at-a-time', G('/1') + G('/2') + G('/3') + G('/4'), {
  methods: ['GET', 'GET', 'GET', 'GET'],
  respond: { delayMs: 20 },
});
add('pipeline/get-then-garbage', `${G('/1')}GARBAGE\r\n\r\n`, { methods: ['GET', 'X'] });
// An empty line after a request, in the same read (RFC 9112 §2.2: ignored before the next request line). The
// read ends in CRLF CRLF, but the head ended two bytes earlier; X-Forwarded-* must still reach the upstream.
add('pipeline/get-then-crlf', `${G('/1')}\r\n`);
add('pipeline/get-crlf-get', `${G('/1')}\r\n${G('/2')}`, { methods: ['GET', 'GET'] });
add(
  'pipeline/get-then-crlf-last-header-dropped',
  `${raw('GET /1 HTTP/1.1', [HOST.trim(), 'X-Forwarded-For: 9.9.9.9'])}\r\n`,
);
// A body that is CRLF, in the read with its head: the read ends in CRLF CRLF two bytes after the head.
add('cl/body-is-crlf', P('/1', '\r\n'));
add('pipeline/get-then-bad-host', G('/1') + raw('GET /2 HTTP/1.1', ['Host: a.test', 'Host: b.test']), {
  methods: ['GET', 'GET'],
});
add('pipeline/get-then-unknown-host', G('/1') + raw('GET /2 HTTP/1.1', ['Host: unknown.test']), {
  methods: ['GET', 'GET'],
});
add('pipeline/bad-then-get', `GET / HTTP/1.1\r\nHost : a.test\r\n\r\n${G('/2')}`, {
  methods: ['GET', 'GET'],
});
// A refusal that closes the connection (400, 501) ends it: what node:http parsed behind it never runs.
add('pipeline/two-hosts-then-get', raw('GET /1 HTTP/1.1', ['Host: a.test', 'Host: b.test']) + G('/2'), {
  methods: ['GET', 'GET'],
});
add('pipeline/no-host-then-get', raw('GET /1 HTTP/1.1', []) + G('/2'), { methods: ['GET', 'GET'] });
add(
  'pipeline/gzip-then-get',
  raw('POST /1 HTTP/1.1', [HOST.trim(), 'Transfer-Encoding: gzip'], 'hello') + G('/2'),
  { methods: ['POST', 'GET'] },
);
add(
  'pipeline/close-then-get',
  raw('GET /1 HTTP/1.1', [HOST.trim(), 'Connection: close']) + G('/2') + G('/3'),
  { methods: ['GET', 'GET', 'GET'] },
);
add('pipeline/get-split-between', [G('/1'), G('/2')], { methods: ['GET', 'GET'] });
add('pipeline/get-split-inside-second', [G('/1') + G('/2').slice(0, 10), G('/2').slice(10)], {
  methods: ['GET', 'GET'],
});

// --- the same bytes in different reads ----------------------------------------------------------------------
const SPLIT_BASES: Record<string, string> = {
  get: raw('GET /s HTTP/1.1', ['Host: a.test', 'X-A: 1']),
  post: raw('POST /s HTTP/1.1', ['Host: a.test', 'Content-Length: 5'], 'hello'),
  chunked: raw('POST /s HTTP/1.1', ['Host: a.test', 'Transfer-Encoding: chunked'], BODY_CHUNKED),
};
for (const [base, bytes] of Object.entries(SPLIT_BASES)) {
  const step = base === 'get' ? 1 : 4;
  for (let at = step; at < bytes.length; at += step)
    add(`split/${base}@${at}`, [bytes.slice(0, at), bytes.slice(at)]);
}
add('split/get-every-byte', [...raw('GET /s HTTP/1.1', ['Host: a.test'])], { gapMs: 2 });
// Defect 4: the same no-break space, in one read and in two.
const NBSP_CL = raw('POST /nb HTTP/1.1', ['Host: a.test', 'Content-Length: \xa05'], 'hello');
const NBSP_HOST = raw('GET /nb HTTP/1.1', ['Host: \xa0a.test']);
add('nbsp/content-length-one-read', NBSP_CL);
add('nbsp/content-length-split', [NBSP_CL.slice(0, 20), NBSP_CL.slice(20)]);
add('nbsp/host-one-read', NBSP_HOST);
add('nbsp/host-split', [NBSP_HOST.slice(0, 10), NBSP_HOST.slice(10)]);

// --- the defects of issue #10 that a table can show ----------------------------------------------------------
const BIG = 'x'.repeat(30_000);
add('defect/post-30k-then-get', [P('/big', BIG), G('/after')], { methods: ['POST', 'GET'], gapMs: 50 });
add('defect/post-16k-then-get', [P('/big', BIG.slice(0, 16_384)), G('/after')], {
  methods: ['POST', 'GET'],
  gapMs: 50,
});
add('defect/two-pipelined-posts', P('/1') + P('/2'), { methods: ['POST', 'POST'], respond: { delayMs: 40 } });
add('defect/connection-host', raw('GET / HTTP/1.1', [HOST.trim(), 'Connection: host']));
add(
  'defect/gzip-chunked',
  raw('POST / HTTP/1.1', [HOST.trim(), 'Transfer-Encoding: gzip, chunked'], BODY_CHUNKED),
);
add('defect/valid-then-garbage', `${G('/ok')}\x00\x01garbage\r\n\r\n`, { methods: ['GET', 'X'] });

export const REQUEST_CASES: readonly RequestCase[] = cases;
