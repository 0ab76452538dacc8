import t from 'tap';
import { proxyModule } from '../../src/agent/activation/proxy.js';
import { ModelError } from '../../src/errors.js';
import { evaluateModels, type ModelSources } from '../../src/models/pipeline.js';
import type { Services, ServicesModelArgs } from '../../src/models/types.js';
import { buildManifest } from '../../src/plan/manifest.js';
import { portRequests } from '../../src/plan/ports.js';
import { targetSpecific } from '../../src/plan/target-specific.js';
import type { Manifest, ServiceInstance } from '../../src/plan/types.js';

// HTTPS in the models (issue 11): virtual hosts' tls/redirectHttps/hsts travel in the proxies' route tables, the
// targets' TLS port and ACME settings in the proxies' config.

const files = {
  infrastructure: 'infrastructure.ts',
  services: 'services.ts',
  distribution: 'distribution.ts',
};

type Props = Record<string, unknown>;

const baseInfrastructure = {
  test1: { properties: { hostname: 'test1' } },
  test2: { properties: { hostname: 'test2', proxyTlsPort: 8443 } },
};

interface Options {
  webapps?: Record<string, Props>;
  proxy?: Props;
  infrastructure?: Record<string, { properties: Props }>;
}

/** webapp1 and webapp2 on test1, webapp3 on both; one proxy per target. */
function sources({
  webapps = {},
  proxy = {},
  infrastructure = baseInfrastructure,
}: Options = {}): ModelSources {
  const services = ({ invDistribution }: ServicesModelArgs): Services => ({
    ...Object.fromEntries(
      [1, 2, 3].map((n) => [
        `webapp${n}`,
        {
          name: `webapp${n}`,
          type: 'webapp',
          dnsName: `webapp${n}.local`,
          port: 3000 + n,
          ...webapps[`webapp${n}`],
        },
      ]),
    ),
    ...targetSpecific(invDistribution, (target, placed) => ({
      name: `proxy-${target.name}`,
      type: 'proxy',
      dependsOn: placed.filter((s) => s.type === 'webapp'),
      ...proxy,
    })),
  });
  return {
    infrastructure,
    services,
    distribution: {
      webapp1: ['test1'],
      webapp2: ['test1'],
      webapp3: ['test1', 'test2'],
      'proxy-test1': ['test1'],
      'proxy-test2': ['test2'],
    },
  };
}

async function plan(options: Options = {}): Promise<Manifest> {
  const models = await evaluateModels(sources(options), { files });
  return buildManifest({
    services: models.services!,
    infrastructure: models.infrastructure,
    distribution: models.distribution!,
    infrastructureFile: files.infrastructure,
    distributionFile: files.distribution,
  }).manifest;
}

/** test1 with a TLS port and an ACME contact, test2 plain. */
const acmeTargets = (proxyTlsPort: number) => ({
  test1: {
    properties: { hostname: 'test1', bindHost: '127.0.0.1', proxyTlsPort, acmeEmail: 'ops@example.org' },
  },
  test2: { properties: { hostname: 'test2' } },
});

const cert = (name: string) => ({ cert: `/etc/nodix/tls/${name}.pem`, key: `/etc/nodix/tls/${name}.key` });

const instance = (manifest: Manifest, target: string, service: string) =>
  manifest.targets[target]?.services[service] as ServiceInstance;

t.test(
  'route tables carry tls, redirectHttps and hsts per host, exactly in the contract shape',
  async (t) => {
    const manifest = await plan({
      webapps: {
        webapp1: { tls: cert('webapp1'), redirectHttps: true, hsts: { preload: false, maxAge: 600 } },
        webapp2: { tls: 'acme' },
      },
      proxy: { defaultTls: cert('default') },
    });
    t.same(instance(manifest, 'test1', 'proxy-test1').routes, {
      version: 1,
      hosts: {
        'webapp1.local': {
          upstreams: ['http://test1:3001'],
          hsts: { maxAge: 600, preload: false },
          redirectHttps: true,
          tls: { cert: '/etc/nodix/tls/webapp1.pem', key: '/etc/nodix/tls/webapp1.key' },
        },
        'webapp2.local': { upstreams: ['http://test1:3002'], tls: 'acme' },
        'webapp3.local': { upstreams: ['http://test1:3003', 'http://test2:3003'] },
      },
      defaultTls: { cert: '/etc/nodix/tls/default.pem', key: '/etc/nodix/tls/default.key' },
    });
    t.same(
      Object.keys(instance(manifest, 'test1', 'proxy-test1').routes?.hosts['webapp1.local'] ?? {}),
      ['upstreams', 'hsts', 'redirectHttps', 'tls'],
      'keys in a fixed order, so that equal settings hash equally',
    );
    t.same(
      instance(manifest, 'test1', 'webapp1').config,
      { bindHost: '0.0.0.0', dnsName: 'webapp1.local', port: 3001 },
      "a host's HTTPS settings are the proxies', not the web app's config",
    );
    t.same(
      instance(manifest, 'test1', 'proxy-test1').config,
      { acme: {}, bindHost: '0.0.0.0', port: 80, tlsPort: 443 },
      'TLS on 443 by default; an acme host gives the proxy an ACME client (with the proxy defaults here)',
    );
    t.same(
      instance(manifest, 'test2', 'proxy-test2').config,
      { bindHost: '0.0.0.0', port: 80, tlsPort: 8443 },
      "test2's proxy: defaultTls alone opens the TLS listener, on the target's proxyTlsPort; no acme host, no ACME",
    );
  },
);

t.test('a proxy with nothing to serve over TLS gets no TLS listener', async (t) => {
  const manifest = await plan({ webapps: { webapp1: { tls: cert('webapp1') } } });
  t.same(instance(manifest, 'test1', 'proxy-test1').config, { bindHost: '0.0.0.0', port: 80, tlsPort: 443 });
  t.same(
    instance(manifest, 'test2', 'proxy-test2').config,
    { bindHost: '0.0.0.0', port: 80 },
    'test2 routes no tls host: no tlsPort, even with proxyTlsPort set',
  );
  const own = await plan({ proxy: { tlsPort: 9443 } });
  t.equal(
    instance(own, 'test2', 'proxy-test2').config.tlsPort,
    9443,
    "the proxy's own tlsPort wins and always listens",
  );
});

t.test("the target's ACME settings reach only proxies with an acme host", async (t) => {
  const acmeProperties = {
    acmeDirectory: 'https://pebble.test:14000/dir',
    acmeEmail: 'ops@example.org',
    acmeCa: '/etc/nodix/pebble.minica.pem',
  };
  const manifest = await plan({
    webapps: { webapp2: { tls: 'acme' } },
    infrastructure: {
      test1: { properties: { hostname: 'test1', ...acmeProperties } },
      test2: { properties: { hostname: 'test2', ...acmeProperties } },
    },
  });
  t.same(instance(manifest, 'test1', 'proxy-test1').config.acme, {
    ca: '/etc/nodix/pebble.minica.pem',
    directory: 'https://pebble.test:14000/dir',
    email: 'ops@example.org',
  });
  t.equal(instance(manifest, 'test2', 'proxy-test2').config.acme, undefined, 'test2 routes no acme host');
});

t.test('changing one host tls changes the hashes of exactly the proxies routing it', async (t) => {
  const hashes = (manifest: Manifest) =>
    Object.fromEntries(
      Object.values(manifest.targets).flatMap((target) =>
        Object.values(target.services).map((s) => [`${target.name}/${s.name}`, s.hash]),
      ),
    );
  const before = hashes(await plan({ webapps: { webapp1: { tls: cert('webapp1') } } }));
  const changed = hashes(await plan({ webapps: { webapp1: { tls: cert('webapp1-new') } } }));
  const differ = Object.keys(before).filter((key) => before[key] !== changed[key]);
  t.same(differ, ['test1/proxy-test1'], "webapp1 lives on test1 only: only test1's proxy changes");
  const shared = hashes(
    await plan({ webapps: { webapp1: { tls: cert('webapp1') }, webapp3: { hsts: undefined } } }),
  );
  t.same(shared, before, 'undefined settings are no settings');
  const both = hashes(
    await plan({ webapps: { webapp1: { tls: cert('webapp1') }, webapp3: { tls: 'acme' } } }),
  );
  t.same(
    Object.keys(before).filter((key) => before[key] !== both[key]),
    ['test1/proxy-test1', 'test2/proxy-test2'],
    'webapp3 is on both targets: both proxies, and still no web app',
  );
});

t.test(
  'the proxy module: --listen-tls and --acme-* from the config, reload when only routes differ',
  async (t) => {
    const manifest = await plan({
      webapps: { webapp2: { tls: 'acme' } },
      infrastructure: acmeTargets(8443),
    });
    const proxy = instance(manifest, 'test1', 'proxy-test1');
    t.equal(proxyModule.check(proxy), undefined, 'the agent accepts the instance');
    const context = {
      serviceDir: '/state/services/proxy-test1',
      defaultHost: '0.0.0.0',
      runtime: { adminPort: 0 },
    };
    const launch = proxyModule.launch(proxy, context);
    const after = launch.args.slice(launch.args.indexOf('--routes') + 2);
    t.same(after, [
      '--listen-tls',
      '127.0.0.1:8443',
      '--acme-dir',
      '/state/services/proxy-test1/acme',
      '--acme-email',
      'ops@example.org',
    ]);
    t.same(launch.listens, [
      { host: '127.0.0.1', port: 80 },
      { host: '127.0.0.1', port: 8443 },
    ]);
    const plain = proxyModule.launch(instance(manifest, 'test2', 'proxy-test2'), context);
    t.notOk(plain.args.includes('--listen-tls'), 'no TLS host, no TLS listener');

    const recertified = await plan({
      webapps: { webapp1: { tls: cert('webapp1'), redirectHttps: true }, webapp2: { tls: 'acme' } },
      infrastructure: acmeTargets(8443),
    });
    t.ok(
      proxyModule.canUpdate?.(proxy, instance(recertified, 'test1', 'proxy-test1')),
      'another host with a certificate: a route-table reload, no restart',
    );
    const moved = await plan({
      webapps: { webapp2: { tls: 'acme' } },
      infrastructure: acmeTargets(9443),
    });
    t.notOk(
      proxyModule.canUpdate?.(proxy, instance(moved, 'test1', 'proxy-test1')),
      'another TLS port: a restart',
    );
    t.match(
      proxyModule.check({ ...proxy, config: { ...proxy.config, tlsPort: 0 } }),
      /service\.config\.tlsPort: must be a TCP port/,
    );
    t.match(
      proxyModule.check({ ...proxy, config: { ...proxy.config, acme: { dir: '/x' } } }),
      /service\.config\.acme\.dir: not an ACME setting/,
    );
  },
);

t.test(
  'port-assign keeps a named TLS port free; a TLS port colliding with a service is refused',
  async (t) => {
    const models = await evaluateModels(sources({ proxy: { tlsPort: 3005 } }), { files });
    const { fixed } = portRequests(models.services!, models.distribution!);
    t.ok(
      fixed.some((f) => f.name === 'proxy-test1' && f.port === 3005),
      'the TLS port is a fixed port of its target',
    );
    await t.rejects(plan({ proxy: { tlsPort: 3001 } }), {
      message:
        "services.ts: webapp1.port: port 3001 is also used by 'proxy-test1', and both are placed on target 'test1'",
    });
    await t.rejects(
      plan({
        webapps: { webapp3: { tls: 'acme' } },
        infrastructure: {
          ...baseInfrastructure,
          test2: { properties: { hostname: 'test2', proxyTlsPort: 80 } },
        },
      }),
      {
        message:
          "services.ts: proxy-test2.tlsPort: port 80 is also this proxy's other listener on target 'test2'",
      },
    );
  },
);

t.test('every TLS model mistake is one message naming file, key and value', async (t) => {
  const cases: [string, Options, string][] = [
    [
      'tls neither acme nor files',
      { webapps: { webapp1: { tls: 'letsencrypt' } } },
      `services.ts: webapp1.tls: must be 'acme' or { cert, key } (PEM files on the target), got "letsencrypt"`,
    ],
    [
      'a relative certificate path',
      { webapps: { webapp1: { tls: { cert: 'webapp1.pem', key: '/k.pem' } } } },
      'services.ts: webapp1.tls.cert: must be an absolute path of a PEM certificate (chain) on the target, got "webapp1.pem"',
    ],
    [
      'a missing key file',
      { webapps: { webapp1: { tls: { cert: '/c.pem' } } } },
      'services.ts: webapp1.tls.key: must be an absolute path of a PEM private key on the target, got undefined',
    ],
    [
      'an unknown tls field',
      { webapps: { webapp1: { tls: { cert: '/c.pem', key: '/k.pem', chain: '/x.pem' } } } },
      'services.ts: webapp1.tls.chain: is not a certificate setting (known: cert, key)',
    ],
    [
      'redirectHttps without tls',
      { webapps: { webapp1: { redirectHttps: true } } },
      'services.ts: webapp1.redirectHttps: needs tls: nothing would serve the https URL it redirects to',
    ],
    [
      'redirectHttps not a boolean',
      { webapps: { webapp1: { tls: 'acme', redirectHttps: 'yes' } } },
      'services.ts: webapp1.redirectHttps: must be true or false, got "yes"',
    ],
    [
      'hsts without tls',
      { webapps: { webapp1: { hsts: { maxAge: 60 } } } },
      'services.ts: webapp1.hsts: needs tls: browsers take the header only over HTTPS',
    ],
    [
      'hsts maxAge negative',
      { webapps: { webapp1: { tls: 'acme', hsts: { maxAge: -1 } } } },
      'services.ts: webapp1.hsts.maxAge: must be a whole number of seconds from 0 to 2147483647, got -1',
    ],
    [
      'hsts maxAge beyond 32 bits',
      { webapps: { webapp1: { tls: 'acme', hsts: { maxAge: 2 ** 31 } } } },
      'services.ts: webapp1.hsts.maxAge: must be a whole number of seconds from 0 to 2147483647, got 2147483648',
    ],
    [
      'hsts with an unknown field',
      { webapps: { webapp1: { tls: 'acme', hsts: { maxAge: 1, subdomains: true } } } },
      'services.ts: webapp1.hsts.subdomains: is not an HSTS setting (known: maxAge, includeSubDomains, preload)',
    ],
    [
      'hsts preload not a boolean',
      { webapps: { webapp1: { tls: 'acme', hsts: { maxAge: 1, preload: 1 } } } },
      'services.ts: webapp1.hsts.preload: must be true or false, got 1',
    ],
    [
      'acme for a wildcard host',
      { webapps: { webapp1: { dnsName: '*.example.org', tls: 'acme' } } },
      `services.ts: webapp1.tls: 'acme' cannot serve the wildcard dnsName '*.example.org' (ACME issues wildcard certificates only over DNS-01); give { cert, key } files`,
    ],
    [
      'tls on a service that is no virtual host',
      { webapps: { webapp1: { dnsName: undefined, tls: 'acme' } } },
      'services.ts: webapp1.tls: only a virtual host (a service with a dnsName) is served over TLS by the proxies',
    ],
    [
      'a proxy tlsPort out of range',
      { proxy: { tlsPort: 70000 } },
      'services.ts: proxy-test1.tlsPort: must be a port number (1-65535), got 70000',
    ],
    [
      'a proxy setting on a web app',
      { webapps: { webapp1: { defaultTls: cert('x') } } },
      "services.ts: webapp1.defaultTls: is a proxy setting, but 'webapp1' is a webapp",
    ],
    [
      'defaultTls without a key',
      { proxy: { defaultTls: { cert: '/c.pem' } } },
      'services.ts: proxy-test1.defaultTls.key: must be an absolute path of a PEM private key on the target, got undefined',
    ],
    [
      'proxyTlsPort not a port',
      { infrastructure: { test1: { properties: { proxyTlsPort: '443' } } } },
      'infrastructure.ts: test1.properties.proxyTlsPort: must be a port number (1-65535), got "443"',
    ],
    [
      'acmeDirectory over plain http',
      { infrastructure: { test1: { properties: { acmeDirectory: 'http://ca.test/dir' } } } },
      'infrastructure.ts: test1.properties.acmeDirectory: must be the https:// URL of an ACME directory, got "http://ca.test/dir"',
    ],
    [
      'acmeEmail not an address',
      { infrastructure: { test1: { properties: { acmeEmail: 'ops' } } } },
      'infrastructure.ts: test1.properties.acmeEmail: must be an email address, got "ops"',
    ],
    [
      'acmeCa relative',
      { infrastructure: { test1: { properties: { acmeCa: 'pebble.pem' } } } },
      'infrastructure.ts: test1.properties.acmeCa: must be an absolute path of a PEM CA certificate on the target, got "pebble.pem"',
    ],
  ];
  for (const [name, options, message] of cases) {
    const error = await plan(options).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    t.ok(error instanceof ModelError, `${name}: a ModelError (exit 2)`);
    t.equal((error as Error | undefined)?.message, message, name);
  }
});
