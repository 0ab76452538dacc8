import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Test } from 'tap';
import { EXAMPLE, type Machines, TARGETS } from './machines.js';
import { run } from './run.js';
import { byName, expectOk, query } from './scenarios.js';

/**
 * The HTTPS variant of the example (examples/virtualhosts/services-https.ts), deployed by `nodix deploy` to two
 * targets, its certificates made by the example's make-test-certs.sh (openssl) in the test's own directory, fetched
 * from the client with curl over HTTPS through each target's proxy (`--cacert`, `--connect-to`, which is
 * `--resolve` for a proxy reached by name). The same scenarios on loopback and in network namespaces.
 */

export type Infrastructure = Record<string, { properties: Record<string, unknown> }>;

export interface HttpsLayout {
  /** The targets' properties; the scenarios add an ACME directory nobody serves (no real CA is ever reached). */
  infrastructure: Infrastructure;
  /** Where the client reaches a target's proxy: an address or a host name. */
  proxyHost(target: string): string;
  /** The target's plain and TLS ports of its proxy. */
  ports(target: string): { http: number; tls: number };
}

/**
 * A services model that is `base` with `override` (`name: { ...services.name!, ... }`). `.mts`: the wrapper lives
 * outside any package.json, where a .ts file would be loaded as CommonJS.
 */
async function wrapServices(path: string, base: string, override: string): Promise<void> {
  const lines = [
    `import base from ${JSON.stringify(base)};`,
    'export default (args: Parameters<typeof base>[0]) => {',
    '  const services = base(args);',
    `  return { ...services, ${override} };`,
    '};',
  ];
  await writeFile(path, `${lines.join('\n')}\n`);
}

export async function runHttpsScenarios(t: Test, machines: Machines, layout: HttpsLayout): Promise<void> {
  for (const target of Object.values(layout.infrastructure)) {
    target.properties.acmeDirectory = 'https://127.0.0.1:9/directory';
  }
  const infrastructureFile = join(machines.work, 'infrastructure-https.json');
  await writeFile(infrastructureFile, JSON.stringify(layout.infrastructure, null, 2));
  const m: Machines = { ...machines, infrastructure: infrastructureFile };
  const tlsDir = join(m.work, 'tls');
  const made = await run('sh', [join(EXAMPLE, 'make-test-certs.sh'), tlsDir], { timeoutMs: 60_000 });
  // No assertion before the subtests: at the top level tap would take the file as finished and tear down.
  if (made.code !== 0) throw new Error(`make-test-certs.sh failed: ${made.stderr}`);

  const services = join(EXAMPLE, 'services-https.ts');

  const extra = ['--extra-params', JSON.stringify({ tlsDir })];
  const state = ['--state-dir', join(m.work, 'coordinator'), '--token-file', m.tokenFile];
  const models = (servicesFile: string) => [
    '-s',
    servicesFile,
    '-i',
    m.infrastructure,
    '-d',
    join(EXAMPLE, 'distribution.ts'),
    '-p',
    'ports.json',
    ...extra,
  ];

  /** curl over HTTPS to `host` through `target`'s proxy, trusting only `ca`. */
  async function https(target: string, host: string, path = '/', ca = join(tlsDir, 'ca.pem')) {
    const { tls } = layout.ports(target);
    const result = await run(
      ...m.on('client', 'curl', [
        '-sS',
        '-m',
        '10',
        '--cacert',
        ca,
        '--connect-to',
        `${host}:${tls}:${layout.proxyHost(target)}:${tls}`,
        '-D',
        '-',
        '-w',
        '\n%{http_code}',
        `https://${host}:${tls}${path}`,
      ]),
      { timeoutMs: 20_000 },
    );
    const cut = result.stdout.lastIndexOf('\n');
    const [head = '', body = ''] = result.stdout.slice(0, cut).split('\r\n\r\n');
    return {
      code: result.code,
      status: Number(result.stdout.slice(cut + 1)),
      head,
      body,
      stderr: result.stderr,
    };
  }

  async function http(target: string, host: string, path = '/') {
    const result = await run(
      ...m.on('client', 'curl', [
        '-s',
        '-m',
        '10',
        '-H',
        `Host: ${host}`,
        '-D',
        '-',
        '-o',
        '/dev/null',
        `http://${layout.proxyHost(target)}:${layout.ports(target).http}${path}`,
      ]),
      { timeoutMs: 20_000 },
    );
    return result.stdout;
  }

  for (const target of TARGETS) await m.startAgent(target);

  await t.test('deploy the HTTPS example', async (t) => {
    const ports = await m.nodix([
      'port-assign',
      ...models(services).slice(0, -4),
      ...extra,
      '--shared-range',
      m.sharedRange,
      '-o',
      'ports.json',
    ]);
    expectOk(t, ports, 'port-assign');
    const deployed = await m.nodix(['deploy', ...models(services), ...state]);
    expectOk(t, deployed, 'deploy');
  });

  await t.test(
    'every host with certificate files answers over HTTPS, on the target it lives on',
    async (t) => {
      const one = await https('test1', 'webapp1.local');
      t.same(
        [one.code, one.status, one.body],
        [0, 200, 'webapp1.local\n'],
        `webapp1 over HTTPS ${one.stderr}`,
      );
      t.match(one.head, /^strict-transport-security: max-age=86400\r?$/im, 'webapp1 has hsts');
      const two = await https('test1', 'webapp2.local');
      t.same([two.code, two.status, two.body], [0, 200, 'webapp2.local\n'], `webapp2 (RSA) ${two.stderr}`);
      t.notMatch(two.head, /strict-transport-security/i, 'webapp2 has no hsts');
      const three = await https('test2', 'webapp3.local');
      t.same(
        [three.code, three.status, three.body],
        [0, 200, 'webapp3.local\n'],
        `webapp3 on test2 ${three.stderr}`,
      );
      const elsewhere = await https('test2', 'webapp1.local');
      t.not(elsewhere.code, 0, "test2's proxy has no certificate for webapp1.local (it lives on test1)");
    },
  );

  await t.test('plain HTTP: redirectHttps hosts get 308 to https, the others are served', async (t) => {
    // The contract: the port is left out of the https URL when the TLS listener is on 443.
    const tlsSuffix = (target: string) =>
      layout.ports(target).tls === 443 ? '' : `:${layout.ports(target).tls}`;
    const redirect = await http('test1', 'webapp1.local', '/a?b=1');
    t.match(redirect, /^HTTP\/1\.1 308 /);
    t.match(
      redirect,
      new RegExp(`^location: https://webapp1\\.local${tlsSuffix('test1')}/a\\?b=1\\r?$`, 'im'),
    );
    t.notMatch(redirect, /strict-transport-security/i, 'never HSTS over plain HTTP');
    t.match(await http('test1', 'webapp2.local'), /^HTTP\/1\.1 200 /);
  });

  await t.test(
    "a new certificate for a host on test1 reloads test1's proxy only: no restart, test2 untouched",
    async (t) => {
      const renewedDir = join(m.work, 'tls-renewed');
      const again = await run('sh', [join(EXAMPLE, 'make-test-certs.sh'), renewedDir], { timeoutMs: 60_000 });
      t.equal(again.code, 0, 'a second CA and certificates');
      const renewed = join(m.work, 'services-renewed.mts');
      const [cert, key] = ['pem', 'key'].map((ext) =>
        JSON.stringify(join(renewedDir, `webapp1.local.${ext}`)),
      );
      await wrapServices(
        renewed,
        services,
        `webapp1: { ...services.webapp1!, tls: { cert: ${cert}, key: ${key} } }`,
      );
      const before = await query(m);
      t.equal(before.test2?.length, 3, 'test2 runs its proxy, webapp3 and webapp4');
      const result = await m.nodix(['deploy', ...models(renewed), ...state]);
      expectOk(t, result, 'deploy');
      t.match(result.stdout, /untouched: test2/);
      const after = await query(m);
      t.same(
        after.test2?.map((s) => [s.name, s.pid, s.hash]),
        before.test2?.map((s) => [s.name, s.pid, s.hash]),
        'test2 keeps its processes and instances',
      );
      const [was, now] = [byName(before.test1 ?? []), byName(after.test1 ?? [])];
      t.equal(now['proxy-test1']?.pid, was['proxy-test1']?.pid, "test1's proxy reloaded, not restarted");
      t.not(now['proxy-test1']?.hash, was['proxy-test1']?.hash, 'with a new route table');
      for (const webapp of ['webapp1', 'webapp2']) {
        t.same(
          [now[webapp]?.pid, now[webapp]?.hash],
          [was[webapp]?.pid, was[webapp]?.hash],
          `${webapp} untouched`,
        );
      }
      const fresh = await https('test1', 'webapp1.local', '/', join(renewedDir, 'ca.pem'));
      t.same(
        [fresh.code, fresh.body],
        [0, 'webapp1.local\n'],
        `the new certificate is served ${fresh.stderr}`,
      );
      const old = await https('test1', 'webapp1.local');
      t.not(old.code, 0, 'the old CA no longer verifies webapp1.local');
      const other = await https('test1', 'webapp2.local');
      t.same([other.code, other.body], [0, 'webapp2.local\n'], 'webapp2 keeps its certificate');
    },
  );

  await t.test(
    'a certificate file missing on the target: the proxy refuses it, the deploy rolls back',
    async (t) => {
      const missing = join(m.work, 'services-missing-cert.mts');
      const absent = JSON.stringify(join(m.work, 'nowhere', 'webapp2.local.pem'));
      const key = JSON.stringify(join(tlsDir, 'webapp2.local.key'));
      await wrapServices(
        missing,
        join(m.work, 'services-renewed.mts'),
        `webapp2: { ...services.webapp2!, tls: { cert: ${absent}, key: ${key} } }`,
      );
      const before = byName((await query(m)).test1 ?? []);
      const result = await m.nodix(['deploy', ...models(missing), ...state]);
      t.equal(result.code, 1, 'deploy fails');
      t.match(result.stderr, /proxy-test1/, 'naming the proxy');
      t.match(result.stderr, /nowhere\/webapp2\.local\.pem/, 'and the file');
      t.match(result.stderr, /rolled back/);
      const after = byName((await query(m)).test1 ?? []);
      t.equal(after['proxy-test1']?.hash, before['proxy-test1']?.hash, "test1's proxy is back on its table");
      const two = await https('test1', 'webapp2.local');
      t.same([two.code, two.body], [0, 'webapp2.local\n'], 'webapp2 still served with its certificate');
    },
  );

  await t.test(
    "the acme host: test2's proxy runs its ACME client, and serves the other hosts meanwhile",
    async (t) => {
      const instance = JSON.parse(await readFile(join(m.agentStateDir('test2'), 'state.json'), 'utf8')) as {
        services: Record<string, { instance: { config: Record<string, unknown> } }>;
      };
      t.same(instance.services['proxy-test2']?.instance.config.acme, {
        directory: 'https://127.0.0.1:9/directory',
      });
      const acme = await https('test2', 'webapp4.local');
      t.not(acme.code, 0, 'no certificate for webapp4.local: no CA answers on loopback');
      const three = await https('test2', 'webapp3.local');
      t.same([three.code, three.body], [0, 'webapp3.local\n']);
    },
  );

  await t.test('undeploy', async (t) => {
    expectOk(t, await m.nodix(['deploy', '--undeploy', ...state]), 'undeploy');
  });
}
