import t from 'tap';
import {
  NoHealthyUpstreamError,
  RequestBodyError,
  UpgradeTimeoutError,
  UpstreamBadResponseError,
  UpstreamBodyTimeoutError,
  UpstreamClientClosedError,
  UpstreamClosedError,
  UpstreamConnectError,
  UpstreamConnectTimeoutError,
  UpstreamHeadersTimeoutError,
  upstreamSocketFailure,
} from '../../src/errors.js';
import {
  ErrorPages,
  escapeHtml,
  failureLabel,
  isConnectError,
  isSocketError,
  mayRetry,
  statusForError,
} from '../../src/http/error-pages.js';

const coded = (code: string) => Object.assign(new Error(code), { code });
const refused = () => new UpstreamConnectError('ECONNREFUSED', 'connect ECONNREFUSED');
const reset = () => upstreamSocketFailure(coded('ECONNRESET'));

t.test('statusForError: one table from error class to status', async (t) => {
  const table: [unknown, number][] = [
    [new NoHealthyUpstreamError('a'), 503],
    [new UpstreamConnectTimeoutError(5), 504],
    [new UpstreamHeadersTimeoutError(5), 504],
    [new UpgradeTimeoutError(5), 504],
    [new UpstreamBodyTimeoutError(5), 502],
    [refused(), 502],
    [reset(), 502],
    [new UpstreamClosedError('closed'), 502],
    [new UpstreamBadResponseError('junk'), 502],
    [new RequestBodyError(), 502],
    [new UpstreamClientClosedError(), 502],
    [upstreamSocketFailure(coded('ERR_TLS_CERT_ALTNAME_INVALID')), 502],
    // A code string alone decides nothing: only the class does.
    [coded('NODIX_ERR_HEADERS_TIMEOUT'), 502],
    [new Error('no code'), 502],
    [null, 502],
  ];
  for (const [err, status] of table)
    t.equal(statusForError(err), status, String((err as Error | null)?.message));
  t.ok(isConnectError(refused()));
  t.ok(isConnectError(upstreamSocketFailure(coded('EHOSTUNREACH'))), 'system connect codes are classified');
  t.ok(isConnectError(new UpstreamConnectTimeoutError(5)));
  t.notOk(isConnectError(reset()));
  t.ok(isSocketError(reset()));
  t.ok(isSocketError(new UpstreamClosedError('closed')));
  t.notOk(isSocketError(new UpstreamHeadersTimeoutError(5)));
  t.notOk(isSocketError(new UpstreamBadResponseError('junk')), 'a garbage answer is not retried');
  t.equal(failureLabel(refused()), 'ECONNREFUSED', 'logged by the system code');
  t.equal(failureLabel(new UpstreamHeadersTimeoutError(5)), 'NODIX_ERR_HEADERS_TIMEOUT');
});

t.test('mayRetry: one policy for both request paths', async (t) => {
  const reused = { reused: true };
  const fresh = { reused: false };
  const unread = { readableDidRead: false };
  const read = { readableDidRead: true };
  t.ok(mayRetry(refused(), true, 'POST', fresh, unread), 'connect failed, body not read yet');
  t.notOk(mayRetry(refused(), true, 'POST', fresh, read), 'connect failed after the body was read');
  t.ok(mayRetry(reset(), false, 'GET', reused, null), 'reset on a reused connection, idempotent, no body');
  t.notOk(mayRetry(reset(), false, 'GET', fresh, null), 'not on a fresh connection');
  t.notOk(mayRetry(reset(), false, 'POST', reused, null), 'not for a non-idempotent method');
  t.notOk(mayRetry(reset(), false, 'PUT', reused, unread), 'not with a body');
  t.notOk(
    mayRetry(new UpstreamBadResponseError('junk'), false, 'GET', reused, null),
    'not after a garbage answer',
  );
});

t.test('pages: default texts, escaping, custom templates with {{host}} and {{status}}', async (t) => {
  t.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  const pages = new ErrorPages();
  const notFound = pages.render(404, '<b>x</b>').toString();
  t.match(notFound, /<title>404 Not Found<\/title>/);
  t.match(notFound, /This web application is unavailable at the moment!/);
  t.match(notFound, /&lt;b&gt;x&lt;\/b&gt;/);
  t.match(pages.render(502, 'a.local').toString(), /could not be reached/);
  t.match(pages.render(503, 'a.local').toString(), /no healthy instance/);
  t.match(pages.render(504, 'a.local').toString(), /did not answer in time/);
  t.ok(pages.render(404, 'x'.repeat(5000)).length < 2000, 'a huge Host is cut short on the page');
  const custom = new ErrorPages({ '404': 'gone: {{host}}', '503': 'status {{status}}' });
  t.equal(custom.render(404, 'a&b').toString(), 'gone: a&amp;b');
  t.equal(custom.render(503, 'ignored').toString(), 'status 503');
  t.equal(
    custom.render(503, 'x'),
    custom.render(503, 'y'),
    'a page without {{host}} is the same bytes every time',
  );
});
