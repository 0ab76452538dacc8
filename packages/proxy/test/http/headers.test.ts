import t from 'tap';
import {
  CONNECTION,
  HOP,
  HOST,
  headerKind,
  PASS,
  responseHeaders,
  TRANSFER_ENCODING,
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
