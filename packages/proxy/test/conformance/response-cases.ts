/**
 * The response table: raw upstream responses, well-formed and not, each answering one plain request
 * (`GET /r` or `HEAD /r` with Host a.test). Names are `family/variant`.
 */
import type { Script } from './harness.js';

export interface ResponseCase extends Script {
  name: string;
  /** The client's method (default GET). */
  method?: 'GET' | 'HEAD' | 'POST';
}

const cases: ResponseCase[] = [];
function add(name: string, raw: string, extra: Partial<ResponseCase> = {}): void {
  cases.push({ name, raw, ...extra });
}
/** A response from a status line, header lines (each without CRLF) and a body. */
function res(status: string, headers: string[], body = ''): string {
  return `${status}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${body}`;
}
const OK = 'HTTP/1.1 200 OK';
const UP = 'X-Up: 1';

// --- framing ------------------------------------------------------------------------------------------------
add('framing/length', res(OK, [UP, 'Content-Length: 5'], 'hello'));
add('framing/length-zero', res(OK, [UP, 'Content-Length: 0']));
add('framing/chunked', res(OK, [UP, 'Transfer-Encoding: chunked'], '5\r\nhello\r\n0\r\n\r\n'));
add('framing/chunked-upper', res(OK, [UP, 'Transfer-Encoding: CHUNKED'], '5\r\nhello\r\n0\r\n\r\n'));
add(
  'framing/chunked-many',
  res(OK, [UP, 'Transfer-Encoding: chunked'], '1\r\nh\r\n2\r\nel\r\n2\r\nlo\r\n0\r\n\r\n'),
);
add(
  'framing/chunked-extension',
  res(OK, [UP, 'Transfer-Encoding: chunked'], '5;a=b\r\nhello\r\n0;c\r\n\r\n'),
);
add(
  'framing/chunked-trailers',
  res(OK, [UP, 'Transfer-Encoding: chunked', 'Trailer: X-T'], '5\r\nhello\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n'),
);
add('framing/chunked-empty', res(OK, [UP, 'Transfer-Encoding: chunked'], '0\r\n\r\n'));
add('framing/close-delimited', res(OK, [UP], 'hello'), { close: true });
add('framing/close-delimited-empty', res(OK, [UP]), { close: true });
add('framing/http1.0-close-delimited', res('HTTP/1.0 200 OK', [UP], 'hello'), { close: true });
add('framing/http1.0-length', res('HTTP/1.0 200 OK', [UP, 'Content-Length: 5'], 'hello'), { close: true });
add(
  'framing/http1.0-keep-alive',
  res('HTTP/1.0 200 OK', [UP, 'Connection: keep-alive', 'Content-Length: 5'], 'hello'),
);
add(
  'framing/length-and-chunked',
  res(OK, [UP, 'Content-Length: 3', 'Transfer-Encoding: chunked'], '5\r\nhello\r\n0\r\n\r\n'),
  { close: true },
);
add('framing/duplicate-length-same', res(OK, [UP, 'Content-Length: 5', 'Content-Length: 5'], 'hello'), {
  close: true,
});
add('framing/duplicate-length-different', res(OK, [UP, 'Content-Length: 5', 'Content-Length: 3'], 'hello'), {
  close: true,
});
add('framing/length-list', res(OK, [UP, 'Content-Length: 5, 5'], 'hello'), { close: true });
add('framing/length-negative', res(OK, [UP, 'Content-Length: -5'], 'hello'), { close: true });
add('framing/length-plus', res(OK, [UP, 'Content-Length: +5'], 'hello'), { close: true });
add('framing/length-hex', res(OK, [UP, 'Content-Length: 0x5'], 'hello'), { close: true });
add('framing/length-spaces', res(OK, [UP, 'Content-Length:   5  '], 'hello'));
add('framing/length-huge', res(OK, [UP, 'Content-Length: 99999999999999999999'], 'hello'), { close: true });
add('framing/length-short-body-close', res(OK, [UP, 'Content-Length: 10'], 'hello'), { close: true });
add('framing/length-extra-bytes', res(OK, [UP, 'Content-Length: 3'], 'hello'), { close: true });
add('framing/gzip-chunked', res(OK, [UP, 'Transfer-Encoding: gzip, chunked'], '5\r\nhello\r\n0\r\n\r\n'), {
  close: true,
});
add('framing/identity', res(OK, [UP, 'Transfer-Encoding: identity'], 'hello'), { close: true });
add('framing/chunked-bad-size', res(OK, [UP, 'Transfer-Encoding: chunked'], 'zz\r\nhello\r\n0\r\n\r\n'), {
  close: true,
});
add('framing/chunked-truncated', res(OK, [UP, 'Transfer-Encoding: chunked'], '5\r\nhel'), { close: true });
add('framing/chunked-missing-crlf', res(OK, [UP, 'Transfer-Encoding: chunked'], '5\r\nhelloX0\r\n\r\n'), {
  close: true,
});
add('framing/large-length', res(OK, [UP, 'Content-Length: 70000'], 'L'.repeat(70000)));
add(
  'framing/large-chunked',
  res(OK, [UP, 'Transfer-Encoding: chunked'], `11170\r\n${'C'.repeat(70000)}\r\n0\r\n\r\n`),
);
add('framing/empty-reply', '', { close: true });
add('framing/head-only-then-close', `${OK}\r\n${UP}\r\nContent-Length: 5\r\n`, { close: true });

// --- Connection and other hop-by-hop headers ----------------------------------------------------------------
const HOP: Record<string, string[]> = {
  'names-content-length': ['Connection: content-length', 'Content-Length: 5'],
  'names-transfer-encoding': ['Connection: transfer-encoding', 'Transfer-Encoding: chunked'],
  'names-custom': ['Connection: x-custom', 'X-Custom: 1', 'Content-Length: 5'],
  'names-date': ['Connection: date', 'Content-Length: 5'],
  'names-set-cookie': ['Connection: set-cookie', 'Set-Cookie: a=1', 'Content-Length: 5'],
  close: ['Connection: close', 'Content-Length: 5'],
  'keep-alive': ['Connection: keep-alive', 'Keep-Alive: timeout=5', 'Content-Length: 5'],
  'proxy-connection': ['Proxy-Connection: keep-alive', 'Content-Length: 5'],
  'upgrade-in-200': ['Upgrade: h2c', 'Connection: upgrade', 'Content-Length: 5'],
  'te-header': ['TE: trailers', 'Content-Length: 5'],
  trailer: ['Trailer: X-T', 'Content-Length: 5'],
  'two-connection-headers': ['Connection: x-a', 'Connection: x-b', 'X-A: 1', 'X-B: 2', 'Content-Length: 5'],
};
for (const [variant, headers] of Object.entries(HOP)) {
  const chunked = headers.includes('Transfer-Encoding: chunked');
  add(`hop/${variant}`, res(OK, [UP, ...headers], chunked ? '5\r\nhello\r\n0\r\n\r\n' : 'hello'), {
    close: variant === 'close',
  });
}

// --- 1xx, 204, 304, HEAD ------------------------------------------------------------------------------------
add('interim/100-then-200', `HTTP/1.1 100 Continue\r\n\r\n${res(OK, [UP, 'Content-Length: 5'], 'hello')}`);
add(
  'interim/103-then-200',
  `HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n${res(OK, [UP, 'Content-Length: 5'], 'hello')}`,
);
add('interim/102-then-200', `HTTP/1.1 102 Processing\r\n\r\n${res(OK, [UP, 'Content-Length: 5'], 'hello')}`);
add(
  'interim/two-then-200',
  `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n${res(OK, [UP, 'Content-Length: 5'], 'hello')}`,
);
add(
  'interim/101-unasked',
  res('HTTP/1.1 101 Switching Protocols', [UP, 'Upgrade: websocket', 'Connection: Upgrade']),
  { close: true },
);
add('status/204', res('HTTP/1.1 204 No Content', [UP]));
add('status/204-with-length', res('HTTP/1.1 204 No Content', [UP, 'Content-Length: 5'], 'hello'), {
  close: true,
});
add(
  'status/204-with-chunked',
  res('HTTP/1.1 204 No Content', [UP, 'Transfer-Encoding: chunked'], '5\r\nhello\r\n0\r\n\r\n'),
  { close: true },
);
add('status/304', res('HTTP/1.1 304 Not Modified', [UP, 'ETag: "x"']));
add('status/304-with-length', res('HTTP/1.1 304 Not Modified', [UP, 'Content-Length: 5']));
add('status/304-with-body', res('HTTP/1.1 304 Not Modified', [UP, 'Content-Length: 5'], 'hello'), {
  close: true,
});
add('status/205', res('HTTP/1.1 205 Reset Content', [UP, 'Content-Length: 0']));
add('status/404', res('HTTP/1.1 404 Not Found', [UP, 'Content-Length: 5'], 'nope!'));
add('status/500', res('HTTP/1.1 500 Internal Server Error', [UP, 'Content-Length: 5'], 'boom!'));
add(
  'status/503-retry-after',
  res('HTTP/1.1 503 Service Unavailable', [UP, 'Retry-After: 5', 'Content-Length: 0']),
);
add('status/no-reason', res('HTTP/1.1 200', [UP, 'Content-Length: 5'], 'hello'));
add('status/empty-reason', res('HTTP/1.1 200 ', [UP, 'Content-Length: 5'], 'hello'));
add('status/odd-reason', res('HTTP/1.1 200 Fine \xe9', [UP, 'Content-Length: 5'], 'hello'));
add('status/unknown-code', res('HTTP/1.1 299 Whatever', [UP, 'Content-Length: 5'], 'hello'));
add('status/code-999', res('HTTP/1.1 999 Nine', [UP, 'Content-Length: 5'], 'hello'), { close: true });
add('status/code-99', res('HTTP/1.1 99 Low', [UP, 'Content-Length: 5'], 'hello'), { close: true });
add('status/code-2000', res('HTTP/1.1 2000 Long', [UP, 'Content-Length: 5'], 'hello'), { close: true });
add('status/code-letters', res('HTTP/1.1 abc OK', [UP, 'Content-Length: 5'], 'hello'), { close: true });
add('status/http2', res('HTTP/2 200', [UP, 'Content-Length: 5'], 'hello'), { close: true });
add('status/lowercase-http', res('http/1.1 200 OK', [UP, 'Content-Length: 5'], 'hello'), { close: true });
add('status/garbage', 'HELLO THERE\r\n\r\n', { close: true });
add('status/http0.9-body', 'hello world', { close: true });
add('status/bare-lf', `HTTP/1.1 200 OK\nX-Up: 1\nContent-Length: 5\n\nhello`, { close: true });
for (const [variant, extra] of Object.entries({
  length: ['Content-Length: 5'],
  chunked: ['Transfer-Encoding: chunked'],
  none: [],
})) {
  add(`head/${variant}`, res(OK, [UP, ...extra]), { method: 'HEAD' });
}
add('head/body-sent-anyway', res(OK, [UP, 'Content-Length: 5'], 'hello'), { method: 'HEAD', close: true });

// --- header syntax in responses -----------------------------------------------------------------------------
const HEADERS: Record<string, string[]> = {
  'space-before-colon': ['X-Bad : 1'],
  'obs-fold': ['X-Fold: a', ' b'],
  'nul-value': ['X-Nul: a\x00b'],
  'latin1-value': ['X-Latin: caf\xe9'],
  'no-colon': ['X-No-Colon'],
  'empty-value': ['X-Empty:'],
  underscore: ['X_Under: 1'],
  'set-cookie-twice': ['Set-Cookie: a=1', 'Set-Cookie: b=2'],
  'server-and-date': ['Server: upstream/1', 'Date: Thu, 01 Jan 2026 00:00:00 GMT'],
  'long-value-8k': [`X-Long: ${'v'.repeat(8000)}`],
  'many-headers': Array.from({ length: 100 }, (_, i) => `X-R${i}: ${i}`),
  'x-forwarded-for': ['X-Forwarded-For: 6.6.6.6'],
  'content-type-charset': ['Content-Type: text/plain; charset=utf-8'],
  'del-value': ['X-Del: a\x7fb'],
  'tab-in-value': ['X-Tab: a\tb'],
  'colon-in-value': ['X-Colon: a:b: c'],
  'ows-around-value': ['X-Ows: \t a \t'],
  'slash-name': ['X/Bad: 1'],
};
for (const [variant, headers] of Object.entries(HEADERS)) {
  const bad = ['space-before-colon', 'obs-fold', 'nul-value', 'no-colon', 'del-value', 'slash-name'].includes(
    variant,
  );
  add(`header/${variant}`, res(OK, [UP, ...headers, 'Content-Length: 5'], 'hello'), { close: bad });
}

// --- the same response in several writes --------------------------------------------------------------------
const SPLIT = res(OK, [UP, 'Content-Length: 5'], 'hello');
for (let at = 1; at < SPLIT.length; at += 3) add(`split/length@${at}`, SPLIT, { splits: [at] });
const SPLIT_CHUNKED = res(OK, [UP, 'Transfer-Encoding: chunked'], '5\r\nhello\r\n0\r\n\r\n');
for (let at = 30; at < SPLIT_CHUNKED.length; at += 3)
  add(`split/chunked@${at}`, SPLIT_CHUNKED, { splits: [at] });
add('split/interim-boundary', `HTTP/1.1 100 Continue\r\n\r\n${SPLIT}`, { splits: [25] });

export const RESPONSE_CASES: readonly ResponseCase[] = cases;
