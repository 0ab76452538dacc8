import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { json } from '../../src/commands/model-options.js';
import { distributionToJson } from '../../src/models/distribution.js';
import { planDistribution, planManifest, planPorts } from '../../src/models/pipeline.js';
import { manifestToDot } from '../../src/plan/visualize.js';
import { golden, goldenPath } from '../golden.js';

// The example's models as the commands evaluate them (in process; the CLI test runs the built bin on them too).
const cwd = fileURLToPath(new URL('../../../../examples/virtualhosts/', import.meta.url));
const fixed = {
  services: 'services.ts',
  infrastructure: 'infrastructure.ts',
  distribution: 'distribution.ts',
};
const twenty = { count: 20 };

t.test('the static distribution: ports.json is what port-assign keeps, and the graph', async (t) => {
  const { ports } = await planPorts({ files: { ...fixed, ports: 'ports.json' }, cwd });
  t.equal(
    json(ports),
    await readFile(`${cwd}ports.json`, 'utf8'),
    'port-assign -p ports.json changes nothing',
  );
  const { manifest, warnings } = await planManifest({ files: { ...fixed, ports: 'ports.json' }, cwd });
  t.same(warnings, []);
  await golden(t, 'visualize.dot', manifestToDot(manifest));
  t.same(
    manifest.targets.test1?.services['proxy-test1']?.routes,
    {
      version: 1,
      hosts: {
        'webapp1.local': { upstreams: ['http://test1:3000'] },
        'webapp2.local': { upstreams: ['http://test1:3001'] },
      },
    },
    "test1's proxy routes exactly test1's web apps",
  );
});

t.test('the dynamic case: 20 webapps through gendist and port-assign', async (t) => {
  const dynamic = { services: 'services-dynamic.ts', infrastructure: 'infrastructure.ts' };
  const { distribution } = await planDistribution({
    files: { ...dynamic, qos: 'qos.ts' },
    cwd,
    extraParams: twenty,
  });
  const distributionJson = distributionToJson(distribution);
  await golden(t, 'gendist-20.json', json(distributionJson));
  const on = (target: string) =>
    Object.keys(distributionJson).filter(
      (s) => s.startsWith('webapp') && distributionJson[s]?.[0] === target,
    );
  t.equal(on('test1').length, 10, 'the README case: 10 webapps on test1');
  t.equal(on('test2').length, 10, 'and 10 on test2');

  const withDistribution = { ...dynamic, distribution: goldenPath('gendist-20.json') };
  const { ports } = await planPorts({ files: withDistribution, cwd, extraParams: twenty });
  await golden(t, 'ports-20.json', json(ports));

  const { manifest } = await planManifest({
    files: { ...withDistribution, ports: goldenPath('ports-20.json') },
    cwd,
    extraParams: twenty,
  });
  const test1Hosts = Object.keys(manifest.targets.test1?.services['proxy-test1']?.routes?.hosts ?? {});
  t.same(
    test1Hosts,
    on('test1').map((name) => `${name}.local`),
    'proxy-test1 routes its 10 webapps',
  );
  t.same(manifest.targets.test2?.services['proxy-test2']?.routes?.hosts['webapp20.local'], {
    upstreams: ['http://test2:3019'],
  });

  const { distribution: again } = await planDistribution({
    files: { ...dynamic, qos: 'qos.ts', previousDistribution: goldenPath('gendist-20.json') },
    cwd,
    extraParams: twenty,
  });
  t.same(
    distributionToJson(again),
    distributionJson,
    'with --previous, the same models give the same distribution',
  );
});

t.test('the local infrastructure: loopback, distinct agent and proxy ports', async (t) => {
  const { manifest } = await planManifest({
    files: { ...fixed, infrastructure: 'infrastructure-local.ts', ports: 'ports.json' },
    cwd,
  });
  const { test1, test2 } = manifest.targets;
  t.same(
    [test1?.agent, test2?.agent],
    [
      { host: '127.0.0.1', port: 7411 },
      { host: '127.0.0.1', port: 7412 },
    ],
  );
  t.same(test1?.services['proxy-test1']?.config, { bindHost: '127.0.0.1', port: 8081 });
  t.same(test2?.services['proxy-test2']?.config, { bindHost: '127.0.0.1', port: 8082 });
  t.same(test2?.services['proxy-test2']?.routes?.hosts['webapp4.local'], {
    upstreams: ['http://127.0.0.1:3003'],
  });
});

t.test(
  'the HTTPS variant: certificate files per host, one acme host, TLS ports of the local targets',
  async (t) => {
    const { manifest, warnings } = await planManifest({
      files: {
        ...fixed,
        services: 'services-https.ts',
        infrastructure: 'infrastructure-local.ts',
        ports: 'ports.json',
      },
      cwd,
      extraParams: { tlsDir: '/srv/tls' },
    });
    t.same(warnings, []);
    const { test1, test2 } = manifest.targets;
    t.same(test1?.services['proxy-test1']?.routes, {
      version: 1,
      hosts: {
        'webapp1.local': {
          upstreams: ['http://127.0.0.1:3000'],
          hsts: { maxAge: 86_400 },
          redirectHttps: true,
          tls: { cert: '/srv/tls/webapp1.local.pem', key: '/srv/tls/webapp1.local.key' },
        },
        'webapp2.local': {
          upstreams: ['http://127.0.0.1:3001'],
          tls: { cert: '/srv/tls/webapp2.local.pem', key: '/srv/tls/webapp2.local.key' },
        },
      },
    });
    t.same(test2?.services['proxy-test2']?.routes?.hosts['webapp4.local'], {
      upstreams: ['http://127.0.0.1:3003'],
      tls: 'acme',
    });
    t.same(test1?.services['proxy-test1']?.config, { bindHost: '127.0.0.1', port: 8081, tlsPort: 8441 });
    t.same(
      test2?.services['proxy-test2']?.config,
      { acme: {}, bindHost: '127.0.0.1', port: 8082, tlsPort: 8442 },
      "test2 routes the acme host: its proxy runs an ACME client (the proxy's defaults: the target sets none)",
    );
    const plain = await planManifest({
      files: { ...fixed, infrastructure: 'infrastructure-local.ts', ports: 'ports.json' },
      cwd,
    });
    for (const webapp of ['webapp1', 'webapp2']) {
      t.equal(
        test1?.services[webapp]?.hash,
        plain.manifest.targets.test1?.services[webapp]?.hash,
        `${webapp} is the same instance with or without HTTPS: only the proxies change`,
      );
    }
    const { ports } = await planPorts({
      files: { ...fixed, services: 'services-https.ts', ports: 'ports.json' },
      cwd,
      extraParams: { tlsDir: '/srv/tls' },
    });
    t.equal(json(ports), await readFile(`${cwd}ports.json`, 'utf8'), 'the same ports as the plain example');
  },
);
