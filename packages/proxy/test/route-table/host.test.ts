import fc from 'fast-check';
import t from 'tap';
import {
  BAD_HOST,
  type HostIndex,
  lookupHost,
  normaliseHost,
  resolveHost,
} from '../../src/route-table/host.js';

t.test('normaliseHost: nginx rules (lowercase, port stripped, IPv6 literal, one trailing dot)', async (t) => {
  const cases: [string, string | null][] = [
    ['webapp1.local', 'webapp1.local'],
    ['WebApp1.LOCAL', 'webapp1.local'],
    ['webapp1.local:8080', 'webapp1.local'],
    ['webapp1.local:', 'webapp1.local'],
    ['webapp1.local.', 'webapp1.local'],
    ['webapp1.local.:80', 'webapp1.local'],
    ['under_score-dash.example', 'under_score-dash.example'],
    ['127.0.0.1:3000', '127.0.0.1'],
    ['[::1]', '[::1]'],
    ['[::1]:8080', '[::1]'],
    ['[FE80::A:1]:80', '[fe80::a:1]'],
    ['[::ffff:127.0.0.1]', '[::ffff:127.0.0.1]'],
    // malformed: 400
    ['', null],
    ['.', null],
    ['webapp1.local..', null],
    ['a..b', null],
    ['.leading', null],
    ['a/b', null],
    ['a\\b', null],
    ['a b', null],
    ['a\tb', null],
    ['a\u0001b', null],
    ['a\u007fb', null],
    ['exämple.org', null],
    ['host:port', null],
    ['host:123456', null],
    ['host:80:80', null],
    ['[::1', null],
    ['[]', null],
    ['[::1]x', null],
    ['[::1]:x', null],
    ['[zz::1]', null],
    ['[1.2.3.4]', null],
    ['::1', null],
    ['user@host', null],
    ['a'.repeat(1025), null],
  ];
  for (const [raw, expected] of cases) t.equal(normaliseHost(raw), expected, JSON.stringify(raw));
});

function index(exact: string[], wildcards: string[]): HostIndex<string> {
  return {
    exact: new Map(exact.map((n) => [n, n])),
    wildcards: new Map(wildcards.map((n) => [n, `*.${n}`])),
    memo: new Map(),
  };
}

t.test('lookupHost: exact names first, then the longest wildcard; *.x does not match x', async (t) => {
  const idx = index(['www.example.org', 'example.org'], ['example.org', 'b.example.org', 'org']);
  t.equal(lookupHost(idx, 'www.example.org'), 'www.example.org');
  t.equal(lookupHost(idx, 'example.org'), 'example.org');
  t.equal(lookupHost(idx, 'a.example.org'), '*.example.org');
  t.equal(lookupHost(idx, 'a.b.example.org'), '*.b.example.org');
  t.equal(lookupHost(idx, 'x.y.z.b.example.org'), '*.b.example.org');
  t.equal(lookupHost(idx, 'other.org'), '*.org');
  t.equal(lookupHost(idx, 'org'), null);
  t.equal(lookupHost(idx, 'example.com'), null);
  t.equal(lookupHost(index([], ['example.org']), 'example.org'), null);
});

t.test('resolveHost: memoises per raw value, marks malformed values, stays bounded', async (t) => {
  const idx = index(['webapp1.local'], []);
  t.equal(resolveHost(idx, 'WEBAPP1.local:80'), 'webapp1.local');
  t.equal(idx.memo.get('WEBAPP1.local:80'), 'webapp1.local');
  t.equal(resolveHost(idx, 'nope.local'), null);
  t.equal(resolveHost(idx, 'a..b'), BAD_HOST);
  for (let i = 0; i < 12_000; i++) resolveHost(idx, `random${i}.local`);
  t.ok(idx.memo.size <= 10_000, 'memo cleared when full');
  t.equal(resolveHost(idx, 'webapp1.local'), 'webapp1.local');
});

t.test('normaliseHost properties: never throws, idempotent, output is lowercase without port', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary-ascii', maxLength: 40 }), (raw) => {
      const name = normaliseHost(raw);
      if (name === null) return true;
      return (
        normaliseHost(name) === name &&
        name === name.toLowerCase() &&
        !/:\d*$/.test(name.replace(/^\[.*\]$/, ''))
      );
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.domain(), fc.integer({ min: 0, max: 65535 }), (domain, port) => {
      return normaliseHost(`${domain.toUpperCase()}:${port}`) === domain.toLowerCase();
    }),
    { numRuns: 500 },
  );
  t.pass('properties hold');
});
