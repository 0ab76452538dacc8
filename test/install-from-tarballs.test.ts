import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { httpGet, servicePort } from '../packages/deployer/test/agent/helpers.js';
import { ROOT } from './helpers/machines.js';
import { offlineLock } from './helpers/offline-lock.js';
import { run, startUntil, stopChild } from './helpers/run.js';

// SLOW (npm pack of three packages, an npm install, a deploy): the three packages used as a user outside the
// repository uses them. Packed with `npm pack` (prepack builds dist/), installed from the tarballs into an empty
// directory under the system's temporary directory with `npm install --offline` (no registry: the third-party
// tarballs come from the npm cache `npm ci` filled), and run from there: the web app, the proxy, and
// `nodix deploy` of the example's models, copied into a directory of their own with no node_modules anywhere above.
t.setTimeout(300_000);

const WORKSPACES = ['packages/webapp', 'packages/proxy', 'packages/deployer'];
const env = { PATH: process.env.PATH, HOME: process.env.HOME } as NodeJS.ProcessEnv;
// Through `env -u NODE_OPTIONS`: tap adds its coverage hooks (which live in the repository) to the NODE_OPTIONS of
// every child it sees spawned; the installed packages must run on their own.
const bare = (command: string, args: string[]): [string, string[]] => [
  'env',
  ['-u', 'NODE_OPTIONS', command, ...args],
];

t.test('packed, installed outside the repository, and run from there', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'nodix-install-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const packDir = join(work, 'tarballs');
  const project = join(work, 'project');
  const models = join(work, 'models');
  for (const dir of [packDir, project, models]) await mkdir(dir);

  const packed = await run(
    ...bare('npm', [
      'pack',
      ...WORKSPACES.flatMap((workspace) => ['-w', workspace]),
      '--pack-destination',
      packDir,
    ]),
    { cwd: ROOT, env: { ...env, npm_config_loglevel: 'warn' }, timeoutMs: 120_000 },
  );
  t.equal(packed.code, 0, packed.stderr);
  const tarballs = (await readdir(packDir)).sort();
  t.same(tarballs, ['nodix-deployer-0.1.0.tgz', 'nodix-proxy-0.1.0.tgz', 'nodix-webapp-0.1.0.tgz']);

  await writeFile(join(project, 'package.json'), `${JSON.stringify({ name: 'try-nodix', private: true })}\n`);
  await writeFile(join(project, 'package-lock.json'), await offlineLock(ROOT, WORKSPACES, 'try-nodix'));
  const installed = await run(
    ...bare('npm', [
      'install',
      '--offline',
      '--no-audit',
      '--no-fund',
      ...tarballs.map((name) => join(packDir, name)),
    ]),
    { cwd: project, env, timeoutMs: 120_000 },
  );
  t.equal(installed.code, 0, `${installed.stdout}${installed.stderr}`);
  const bin = (name: string) => join(project, 'node_modules', '.bin', name);
  for (const name of ['nodix', 'nodix-proxy', 'nodix-webapp'])
    t.ok(existsSync(bin(name)), `${name} installed`);
  for (const devOnly of ['tsx', 'typescript', 'tap', '@biomejs/biome'])
    t.notOk(existsSync(join(project, 'node_modules', devOnly)), `no ${devOnly} (dev only)`);
  // nodix-proxy and nodix-webapp get their --version in the same issue, from another branch.
  for (const name of ['nodix']) {
    const version = await run(...bare(bin(name), ['--version']), { cwd: work, env });
    t.equal(version.code, 0, `${name} --version: ${version.stderr}`);
    t.match(version.stdout, new RegExp(`^${name} \\d+\\.\\d+\\.\\d+\\n$`), `${name} --version`);
  }

  // The web app and the proxy, run by hand.
  const webappPort = await servicePort();
  const webapp = await startUntil(
    ...bare(bin('nodix-webapp'), [
      '--name',
      'hand.local',
      '--port',
      String(webappPort),
      '--host',
      '127.0.0.1',
    ]),
    /listening on/,
    { cwd: work },
  );
  t.teardown(() => stopChild(webapp.child));
  t.equal(await httpGet(webappPort), 'hand.local\n');
  const routes = join(work, 'routes.json');
  await writeFile(
    routes,
    JSON.stringify({
      version: 1,
      hosts: { 'hand.local': { upstreams: [`http://127.0.0.1:${webappPort}`] } },
    }),
  );
  const proxyPort = await servicePort();
  const proxy = await startUntil(
    ...bare(bin('nodix-proxy'), [
      '--listen',
      `127.0.0.1:${proxyPort}`,
      '--admin-listen',
      'off',
      '--routes',
      routes,
    ]),
    /nodix-proxy listening on/,
    { cwd: work },
  );
  t.teardown(() => stopChild(proxy.child));
  t.equal(await httpGet(proxyPort, '127.0.0.1', { host: 'hand.local' }), 'hand.local\n', 'through the proxy');

  // The example's models, copied where no node_modules is: they import @nodix/deployer all the same.
  for (const file of ['services.ts', 'distribution.ts']) {
    await copyFile(join(ROOT, 'examples', 'virtualhosts', file), join(models, file));
  }
  const [agent1, agent2, proxy1, proxy2] = [
    await servicePort(),
    await servicePort(),
    await servicePort(),
    await servicePort(),
  ];
  const local = await readFile(join(ROOT, 'examples', 'virtualhosts', 'infrastructure-local.ts'), 'utf8');
  const infrastructure = local
    .replace('agentPort: 7411', `agentPort: ${agent1}`)
    .replace('agentPort: 7412', `agentPort: ${agent2}`)
    .replace('proxyPort: 8081', `proxyPort: ${proxy1}`)
    .replace('proxyPort: 8082', `proxyPort: ${proxy2}`);
  t.not(infrastructure, local);
  await writeFile(join(models, 'infrastructure.ts'), infrastructure);
  const appPorts = [await servicePort(), await servicePort(), await servicePort(), await servicePort()];
  const assignments = Object.fromEntries(appPorts.map((port, i) => [`webapp${i + 1}`, port]));
  await writeFile(
    join(models, 'ports.json'),
    JSON.stringify({
      ports: assignments,
      shared: { min: 20000, max: 32000, lastPort: Math.max(...appPorts), assignments },
      private: { min: 8000, max: 9000, targets: {} },
    }),
  );

  const agents: Array<Awaited<ReturnType<typeof startUntil>>> = [];
  for (const port of [agent1, agent2]) {
    const agent = await startUntil(
      ...bare(bin('nodix'), [
        'agent',
        '--listen',
        `127.0.0.1:${port}`,
        '--state-dir',
        join(work, `agent-${port}`),
        '--insecure',
        '--service-host',
        '127.0.0.1',
      ]),
      /nodix agent listening on/,
      { cwd: work },
    );
    agents.push(agent);
  }
  const state = ['--state-dir', join(work, 'coordinator')];
  let deployed = false;
  t.teardown(async () => {
    if (deployed) await run(...bare(bin('nodix'), ['deploy', '--undeploy', ...state]), { cwd: work, env });
    for (const agent of agents) await stopChild(agent.child);
  });
  const deploy = await run(
    ...bare(bin('nodix'), [
      'deploy',
      '-s',
      join(models, 'services.ts'),
      '-i',
      join(models, 'infrastructure.ts'),
      '-d',
      join(models, 'distribution.ts'),
      '-p',
      join(models, 'ports.json'),
      ...state,
    ]),
    { cwd: work, env, timeoutMs: 120_000 },
  );
  deployed = true;
  t.equal(deploy.code, 0, `${deploy.stdout}${deploy.stderr}`);
  t.equal(await httpGet(proxy1, '127.0.0.1', { host: 'webapp1.local' }), 'webapp1.local\n');
  t.equal(await httpGet(proxy2, '127.0.0.1', { host: 'webapp4.local' }), 'webapp4.local\n');
  // The services run the installed packages' bins, not the repository's.
  const pid = Number(/activated webapp1: started \(pid (\d+)/.exec(deploy.stdout)?.[1]);
  const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
  t.ok(
    cmdline.some((word) => word.startsWith(join(project, 'node_modules', '@nodix', 'webapp'))),
    `webapp1 runs ${cmdline.join(' ')}`,
  );

  const undeploy = await run(...bare(bin('nodix'), ['deploy', '--undeploy', ...state]), { cwd: work, env });
  t.equal(undeploy.code, 0, undeploy.stderr);
  deployed = false;
  t.equal(await httpGet(proxy1, '127.0.0.1', { host: 'webapp1.local' }), undefined, 'undeployed');
});
