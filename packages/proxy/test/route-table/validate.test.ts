import { readFileSync } from 'node:fs';
import t from 'tap';
import { RouteTableError } from '../../src/errors.js';
import {
  BALANCE_STRATEGIES,
  ERROR_PAGE_STATUSES,
  HEALTH_KEYS,
  HOST_KEYS,
  HSTS_KEYS,
  ROUTE_KEYS,
  TLS_KEYS,
  TOP_LEVEL_KEYS,
  validateRouteTable,
} from '../../src/route-table/validate.js';

const up = ['http://127.0.0.1:3001'];

t.test('accepts the issue example and normalises it', async (t) => {
  const v = validateRouteTable(
    {
      version: 1,
      hosts: {
        'webapp1.local': { upstreams: ['http://127.0.0.1:3001'] },
        '*.example.org': {
          upstreams: ['http://10.0.0.2:3002', 'HTTP://10.0.0.3:3002/'],
          balance: 'least-conn',
        },
        'Upper.Case.': { upstreams: ['https://[::1]:443'] },
        '[::1]': { upstreams: up, routes: [{ path: '/api/*', methods: ['GET', 'POST'], upstreams: up }] },
      },
      errorPage: '<h1>{{host}}</h1>',
    },
    'routes.json',
  );
  t.same(
    v.hosts.map((h) => [h.key, h.name, h.wildcard, h.balance, h.upstreams]),
    [
      ['webapp1.local', 'webapp1.local', false, 'round-robin', ['http://127.0.0.1:3001']],
      ['*.example.org', 'example.org', true, 'least-conn', ['http://10.0.0.2:3002', 'http://10.0.0.3:3002']],
      ['Upper.Case.', 'upper.case', false, 'round-robin', ['https://[::1]']],
      ['[::1]', '[::1]', false, 'round-robin', ['http://127.0.0.1:3001']],
    ],
  );
  t.equal(v.errorPages['404'], '<h1>{{host}}</h1>');
  t.same(v.hosts[3]!.routes, [
    { path: '/api/*', methods: ['GET', 'POST'], upstreams: up, balance: 'round-robin' },
  ]);
});

t.test('every bad input names the source, the JSON path and the reason', async (t) => {
  const cases: [unknown, string, RegExp][] = [
    [null, '', /must be an object/],
    [[], '', /must be an object/],
    [{ version: 2, hosts: {} }, 'version', /must be 1 \(value was 2\)/],
    [{ hosts: {} }, 'version', /must be 1/],
    [{ version: 1 }, 'hosts', /must be an object/],
    [{ version: 1, hosts: {}, extra: 1 }, 'extra', /unknown key/],
    [{ version: 1, hosts: { 'a.local': { upstreams: up, x: 1 } } }, 'hosts["a.local"].x', /unknown key/],
    [{ version: 1, hosts: { 'a.local': {} } }, 'hosts["a.local"].upstreams', /non-empty array/],
    [
      { version: 1, hosts: { 'a.local': { upstreams: [] } } },
      'hosts["a.local"].upstreams',
      /non-empty array/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: [3001] } } },
      'hosts["a.local"].upstreams[0]',
      /must be a string/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: ['127.0.0.1:3001'] } } },
      'hosts["a.local"].upstreams[0]',
      /http: or https:|absolute URL/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: ['ftp://x:1'] } } },
      'hosts["a.local"].upstreams[0]',
      /http: or https:/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: ['http://x:1/app'] } } },
      'hosts["a.local"].upstreams[0]',
      /without path/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: ['http://u:p@x:1'] } } },
      'hosts["a.local"].upstreams[0]',
      /credentials/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: ['http://x:1', 'http://X:1/'] } } },
      'hosts["a.local"].upstreams[1]',
      /duplicate upstream/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up, balance: 'random' } } },
      'hosts["a.local"].balance',
      /round-robin, least-conn, ip-hash/,
    ],
    [{ version: 1, hosts: { 'a..local': { upstreams: up } } }, 'hosts["a..local"]', /must be a host name/],
    [
      { version: 1, hosts: { 'a.local:80': { upstreams: up } } },
      'hosts["a.local:80"]',
      /must not include a port/,
    ],
    [{ version: 1, hosts: { 'a*.local': { upstreams: up } } }, 'hosts["a*.local"]', /must be a host name/],
    [{ version: 1, hosts: { '*': { upstreams: up } } }, 'hosts["*"]', /must be a host name/],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up }, 'A.LOCAL.': { upstreams: up } } },
      'hosts["A.LOCAL."]',
      /duplicate host.*"a\.local"/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up, health: { path: 'x' } } } },
      'hosts["a.local"].health.path',
      /must start with \//,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up, health: { intervalMs: 10 } } } },
      'hosts["a.local"].health.intervalMs',
      /from 100/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up, health: { maxFails: 0 } } } },
      'hosts["a.local"].health.maxFails',
      /from 1/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up, health: { cooldownMs: -1 } } } },
      'hosts["a.local"].health.cooldownMs',
      /from 0/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up, health: { other: 1 } } } },
      'hosts["a.local"].health.other',
      /unknown key/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up, routes: {} } } },
      'hosts["a.local"].routes',
      /must be an array/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up, routes: [{ path: 'api', upstreams: up }] } } },
      'hosts["a.local"].routes[0].path',
      /must start with \//,
    ],
    [
      {
        version: 1,
        hosts: { 'a.local': { upstreams: up, routes: [{ path: '/a', methods: ['get'], upstreams: up }] } },
      },
      'hosts["a.local"].routes[0].methods[0]',
      /upper-case HTTP method/,
    ],
    [
      {
        version: 1,
        hosts: { 'a.local': { upstreams: up, routes: [{ path: '/a', methods: [], upstreams: up }] } },
      },
      'hosts["a.local"].routes[0].methods',
      /non-empty array/,
    ],
    [
      {
        version: 1,
        hosts: {
          'a.local': {
            upstreams: up,
            routes: [
              { path: '/a', upstreams: up },
              { path: '/a', upstreams: up },
            ],
          },
        },
      },
      'hosts["a.local"].routes[1].path',
      /already declared/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up, routes: [{ path: '/a/:id(', upstreams: up }] } } },
      'hosts["a.local"].routes[0].path',
      /./,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up, routes: [{ path: '/a' }] } } },
      'hosts["a.local"].routes[0].upstreams',
      /non-empty array/,
    ],
    [{ version: 1, hosts: {}, errorPage: 1 }, 'errorPage', /must be a string/],
    [{ version: 1, hosts: {}, errorPages: { 500: 'x' } }, 'errorPages["500"]', /unknown key/],
    [{ version: 1, hosts: {}, errorPages: { 502: 3 } }, 'errorPages["502"]', /must be a string/],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up, tls: 'yes' } } },
      'hosts["a.local"].tls',
      /must be "acme" or \{ "cert": FILE, "key": FILE \} \(value was "yes"\)/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up, tls: { cert: 'a.crt' } } } },
      'hosts["a.local"].tls.key',
      /must be a string/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up, tls: { cert: '', key: 'k' } } } },
      'hosts["a.local"].tls.cert',
      /must be a file path/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up, tls: { cert: 'c', key: 'k', chain: 'x' } } } },
      'hosts["a.local"].tls.chain',
      /unknown key/,
    ],
    [
      { version: 1, hosts: { '*.a.local': { upstreams: up, tls: 'acme' } } },
      'hosts["*.a.local"].tls',
      /wildcard host cannot use "acme"/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up, redirectHttps: 'yes' } } },
      'hosts["a.local"].redirectHttps',
      /must be true or false/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up, hsts: {} } } },
      'hosts["a.local"].hsts.maxAge',
      /required/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up, hsts: { maxAge: -1 } } } },
      'hosts["a.local"].hsts.maxAge',
      /integer from 0/,
    ],
    [
      { version: 1, hosts: { 'a.local': { upstreams: up, hsts: { maxAge: 1, preload: 1 } } } },
      'hosts["a.local"].hsts.preload',
      /must be true or false/,
    ],
    [{ version: 1, hosts: {}, defaultTls: 'acme' }, 'defaultTls', /must be an object/],
  ];
  for (const [value, key, reason] of cases) {
    try {
      validateRouteTable(value, 'routes.json');
      t.fail(`accepted ${JSON.stringify(value)}`);
    } catch (err) {
      t.type(err, RouteTableError);
      const e = err as RouteTableError;
      t.equal(e.code, 'NODIX_ERR_ROUTE_TABLE');
      t.equal(e.file, 'routes.json');
      t.equal(e.key, key, `key for ${JSON.stringify(value).slice(0, 80)}`);
      t.match(e.reason, reason);
      t.equal(e.message, `routes.json: ${key === '' ? '' : `${key}: `}${e.reason}`);
    }
  }
});

t.test('tls, redirectHttps, hsts and defaultTls: paths resolved against the table directory', async (t) => {
  const v = validateRouteTable(
    {
      version: 1,
      hosts: {
        'a.local': {
          upstreams: up,
          tls: { cert: 'certs/a.crt', key: '/etc/keys/a.key' },
          redirectHttps: true,
          hsts: { maxAge: 31536000, includeSubDomains: true, preload: true },
        },
        'b.local': { upstreams: up, tls: 'acme', hsts: { maxAge: 60 } },
        'c.local': { upstreams: up },
      },
      defaultTls: { cert: 'd.crt', key: 'd.key' },
    },
    'routes.json',
    '/srv/nodix',
  );
  const [a, b, c] = v.hosts;
  t.same(a!.tls, { cert: '/srv/nodix/certs/a.crt', key: '/etc/keys/a.key', where: 'hosts["a.local"].tls' });
  t.equal(a!.redirectHttps, true);
  t.equal(a!.hsts, 'max-age=31536000; includeSubDomains; preload');
  t.equal(b!.tls, 'acme');
  t.equal(b!.hsts, 'max-age=60');
  t.same([c!.tls, c!.redirectHttps, c!.hsts], [null, false, null]);
  t.same(v.defaultTls, { cert: '/srv/nodix/d.crt', key: '/srv/nodix/d.key', where: 'defaultTls' });
});

t.test('the JSON Schema describes the same keys, values and limits as the validator', async (t) => {
  const schema = JSON.parse(readFileSync(new URL('../../route-table.schema.json', import.meta.url), 'utf8'));
  const keys = (o: { properties: object }) => Object.keys(o.properties).sort();
  t.same(keys(schema), [...TOP_LEVEL_KEYS].sort());
  t.same(keys(schema.$defs.virtualHost), [...HOST_KEYS].sort());
  t.same(keys(schema.$defs.pathRoute), [...ROUTE_KEYS].sort());
  t.same(keys(schema.$defs.health), [...HEALTH_KEYS].sort());
  t.same(keys(schema.$defs.tlsFiles), [...TLS_KEYS].sort());
  t.same(keys(schema.$defs.virtualHost.properties.hsts), [...HSTS_KEYS].sort());
  t.same(keys(schema.properties.errorPages), [...ERROR_PAGE_STATUSES].sort());
  t.same(schema.$defs.balance.enum, BALANCE_STRATEGIES);
  const hostPattern = new RegExp(schema.properties.hosts.propertyNames.pattern, 'u');
  for (const good of ['webapp1.local', '*.example.org', '[::1]', 'a.b.', '_'])
    t.ok(hostPattern.test(good), good);
  for (const bad of ['a.local:80', '*', 'a/b', 'a b', '*.']) t.notOk(hostPattern.test(bad), bad);
  const upstreamPattern = new RegExp(schema.$defs.upstreams.items.pattern, 'u');
  for (const good of ['http://127.0.0.1:3001', 'https://[::1]:8443/']) t.ok(upstreamPattern.test(good), good);
  for (const bad of ['127.0.0.1:3001', 'http://x:1/app', 'http://u:p@x:1'])
    t.notOk(upstreamPattern.test(bad), bad);
  // Limits the validator enforces appear as minimum/maximum in the schema.
  const health = schema.$defs.health.properties;
  t.same(
    [health.intervalMs.minimum, health.timeoutMs.minimum, health.maxFails.minimum, health.cooldownMs.minimum],
    [100, 1, 1, 0],
  );
});
