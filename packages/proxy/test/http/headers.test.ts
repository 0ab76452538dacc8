import t from 'tap';
import {
  CONNECTION,
  HOP,
  HOST,
  headerKind,
  headerKindAt,
  PASS,
  responseHeaders,
  TRANSFER_ENCODING,
  UNDERSCORE,
  UPGRADE,
} from '../../src/http/headers.js';

t.test('header kinds, whatever the case', async (t) => {
  t.equal(headerKind('Host'), HOST);
  t.equal(headerKind('HOST'), HOST);
  t.equal(headerKind('Connection'), CONNECTION);
  t.equal(headerKind('Keep-Alive'), HOP);
  t.equal(headerKind('Proxy-Connection'), HOP);
  t.equal(headerKind('TE'), HOP);
  t.equal(headerKind('Trailer'), HOP);
  t.equal(headerKind('Transfer-Encoding'), TRANSFER_ENCODING);
  t.equal(headerKind('Upgrade'), UPGRADE);
  t.equal(headerKind('X-Custom'), PASS);
  for (let i = 0; i < 5000; i++) headerKind(`X-Random-${i}`);
  t.equal(headerKind('X-Random-4999'), PASS, 'names past the memo limit still classify');
});

t.test('response headers: hop-by-hop and Connection-named dropped, duplicates kept in order', async (t) => {
  const raw = [
    'Set-Cookie',
    'a=1',
    'Connection',
    'keep-alive, X-Private',
    'X-Private',
    'p',
    'Transfer-Encoding',
    'chunked',
    'Set-Cookie',
    'b=2',
    'Keep-Alive',
    'timeout=5',
  ].map((s) => Buffer.from(s, 'latin1'));
  t.same(responseHeaders(raw), ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']);
  t.same(
    responseHeaders(['X-Latin', Buffer.from([0xe9]).toString('latin1')]),
    ['X-Latin', 'é'],
    'latin1 bytes map 1:1',
  );
});

t.test('headerKindAt reads a name in place as headerKind reads it sliced', async (t) => {
  const names = [
    'host',
    'HOST',
    'Host',
    'hosT',
    'hosts',
    'hos',
    'From',
    'Connection',
    'connectioN',
    'User-Agent',
    'keep-alive',
    'Keep-Alive',
    'KEEP_ALIVE',
    'proxy-connection',
    'X-Requested-With',
    'TE',
    'te',
    'tE',
    'Te',
    'trailer',
    'Referer',
    'Upgrade',
    'upgradE',
    'HTTP2-Settings',
    'http2-settings',
    'Sec-Fetch-Site',
    'Content-Length',
    'content-length',
    'Content-Lengtx',
    'Transfer-Encoding',
    'X-Forwarded-Proto',
    'X-Forwarded-For',
    'Accept-Encoding',
    'x-forwarded-host',
    'Expect',
    'Accept',
    'Cookie',
    'X-Request-Id',
    'x-request-iD',
    'Cache-Control',
    '~',
    'a',
    'Upgrade-Insecure-Requests',
    'content~length',
    'x^forwarded-for',
  ];
  for (const name of names) {
    const text = `>${name}:`;
    // A name with an underscore is the caller's to see (UNDERSCORE); in place it is no known name.
    const expected = headerKind(name) === UNDERSCORE ? PASS : headerKind(name);
    t.equal(headerKindAt(text, 1, 1 + name.length), expected, name);
  }
});
