import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Test } from 'tap';
import { EXAMPLE, type Machines, TARGETS } from './machines.js';

/**
 * The README of the original example, run from the client against two targets, plus what the deployer promises:
 * untouched targets, rollback, wrong tokens, supervision, agent restarts. Every step is a subtest so a failure
 * names the scenario; the machines are set up and torn down by the caller.
 */

interface ServiceView {
  name: string;
  pid: number;
  hash: string;
  state: string;
  restarts: number;
}

export async function query(m: Machines): Promise<Record<string, ServiceView[]>> {
  const result = await m.nodix(['query', '-i', m.infrastructure, '--json', '--token-file', m.tokenFile]);
  if (result.code !== 0)
    throw new Error(`nodix query failed (${result.code}): ${result.stdout}${result.stderr}`);
  const parsed = JSON.parse(result.stdout) as { targets: Record<string, { services: ServiceView[] }> };
  return Object.fromEntries(
    Object.entries(parsed.targets).map(([target, answer]) => [target, answer.services]),
  );
}

export function byName(services: ServiceView[]): Record<string, ServiceView> {
  return Object.fromEntries(services.map((service) => [service.name, service]));
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function expectOk(
  t: Test,
  result: { code: number | null; stdout: string; stderr: string },
  what: string,
): void {
  t.equal(
    result.code,
    0,
    `${what} exits 0${result.code === 0 ? '' : `:\n${result.stdout}\n${result.stderr}`}`,
  );
}

/** `-s -i -d` of the example's static deployment on these machines. */
export function staticModelArgs(m: Machines): string[] {
  return ['-s', join(EXAMPLE, 'services.ts'), '-i', m.infrastructure, '-d', join(EXAMPLE, 'distribution.ts')];
}

export async function runScenarios(t: Test, m: Machines): Promise<void> {
  const state = ['--state-dir', join(m.work, 'coordinator'), '--token-file', m.tokenFile];
  const staticModels = staticModelArgs(m);
  const dynamicServices = join(EXAMPLE, 'services-dynamic.ts');
  const twenty = ['--extra-params', '{"count": 20}'];

  for (const target of TARGETS) await m.startAgent(target);

  await t.test('deploy the example: services, infrastructure, distribution', async (t) => {
    const ports = await m.nodix([
      'port-assign',
      ...staticModels,
      '--shared-range',
      m.sharedRange,
      '-o',
      'ports.json',
    ]);
    expectOk(t, ports, 'port-assign');
    const deployed = await m.nodix(['deploy', ...staticModels, '-p', 'ports.json', ...state]);
    expectOk(t, deployed, 'deploy');
    t.match(deployed.stdout, /generation 1 is current/);
  });

  await t.test("curl -H 'Host: webapp2.local' http://test1 answers webapp2.local", async (t) => {
    t.same(await m.curl('test1', 'webapp2.local'), { status: 200, body: 'webapp2.local\n' });
    t.same(await m.curl('test2', 'webapp3.local'), { status: 200, body: 'webapp3.local\n' });
  });

  await t.test('nonexistent.local gets the 404 page', async (t) => {
    const answer = await m.curl('test1', 'nonexistent.local');
    t.equal(answer.status, 404);
    t.match(answer.body, /Not Found/);
  });

  await t.test('webapp3.local at test1 gets 404: it lives on test2', async (t) => {
    t.equal((await m.curl('test1', 'webapp3.local')).status, 404);
  });

  // The token for agents reached over HTTP; over SSH the login is the credential (an unauthorised key).
  await t.test('a credential the targets refuse changes nothing', async (t) => {
    const before = await query(m);
    const { args, refusal } = await m.wrongCredential();
    const result = await m.nodix([
      'deploy',
      '--undeploy',
      '--state-dir',
      join(m.work, 'coordinator'),
      ...args,
    ]);
    t.equal(result.code, 1);
    t.match(result.stderr, refusal);
    const after = await query(m);
    for (const target of TARGETS) {
      t.same(
        after[target]?.map((s) => [s.name, s.pid]),
        before[target]?.map((s) => [s.name, s.pid]),
        `${target} unchanged`,
      );
    }
    t.equal((await m.curl('test1', 'webapp2.local')).status, 200, 'still serving');
  });

  await t.test('a webapp killed with SIGKILL comes back', async (t) => {
    const victim = byName((await query(m)).test1 ?? []).webapp2;
    t.ok(victim?.pid, 'webapp2 runs on test1');
    process.kill(victim!.pid, 'SIGKILL');
    const back = await waitFor('webapp2 to come back', async () => {
      const now = byName((await query(m)).test1 ?? []).webapp2;
      return now && now.state === 'running' && now.pid !== victim!.pid ? now : undefined;
    });
    t.equal(back.restarts, 1);
    t.same(await m.curl('test1', 'webapp2.local'), { status: 200, body: 'webapp2.local\n' });
  });

  await t.test('stopping the agent leaves the services serving; a restarted agent adopts them', async (t) => {
    const before = (await query(m)).test1 ?? [];
    await m.stopAgent('test1');
    t.same(
      await m.curl('test1', 'webapp1.local'),
      { status: 200, body: 'webapp1.local\n' },
      'serving without agent',
    );
    await m.startAgent('test1');
    const after = (await query(m)).test1 ?? [];
    t.same(
      after.map((s) => [s.name, s.pid, s.state]),
      before.map((s) => [s.name, s.pid, 'running']),
      'same processes, adopted',
    );
    // Adopted processes are still supervised.
    const victim = byName(after).webapp1!;
    process.kill(victim.pid, 'SIGKILL');
    await waitFor('the adopted webapp1 to come back', async () => {
      const now = byName((await query(m)).test1 ?? []).webapp1;
      return now && now.state === 'running' && now.pid !== victim.pid ? now : undefined;
    });
    t.same(await m.curl('test1', 'webapp1.local'), { status: 200, body: 'webapp1.local\n' });
  });

  let distribution: Record<string, string[]> = {};
  await t.test(
    'the dynamic case: 20 webapps through gendist and port-assign, 10 on each target',
    async (t) => {
      const models = ['-s', dynamicServices, '-i', m.infrastructure];
      const gendist = await m.nodix([
        'gendist',
        ...models,
        '-q',
        join(EXAMPLE, 'qos.ts'),
        ...twenty,
        '-o',
        'dist.json',
      ]);
      expectOk(t, gendist, 'gendist');
      distribution = JSON.parse(await readFile(join(m.work, 'dist.json'), 'utf8'));
      const ports = await m.nodix([
        'port-assign',
        ...models,
        '-d',
        'dist.json',
        ...twenty,
        '--shared-range',
        m.sharedRange,
        '-o',
        'ports20.json',
      ]);
      expectOk(t, ports, 'port-assign');
      const deployed = await m.nodix([
        'deploy',
        ...models,
        '-d',
        'dist.json',
        '-p',
        'ports20.json',
        ...twenty,
        ...state,
      ]);
      expectOk(t, deployed, 'deploy');
      const running = await query(m);
      for (const target of TARGETS) {
        const webapps = (running[target] ?? []).filter((s) => s.name.startsWith('webapp'));
        t.equal(webapps.length, 10, `10 webapps on ${target}`);
      }
      for (let i = 1; i <= 20; i += 1) {
        const name = `webapp${i}`;
        const target = distribution[name]?.[0] as string;
        t.same(
          await m.curl(target, `${name}.local`),
          { status: 200, body: `${name}.local\n` },
          `${name} at ${target}`,
        );
      }
    },
  );

  await t.test('a change on test2 leaves test1 untouched', async (t) => {
    const onTest2 = Object.keys(distribution).find(
      (name) => name.startsWith('webapp') && distribution[name]?.[0] === 'test2',
    );
    t.ok(onTest2, 'a webapp on test2');
    // .mts: the wrapper lives outside any package.json, where a .ts file would be loaded as CommonJS.
    const changed = join(m.work, 'services-changed.mts');
    await writeFile(
      changed,
      [
        `import base from ${JSON.stringify(join(EXAMPLE, 'services-dynamic.ts'))};`,
        'export default (args: Parameters<typeof base>[0]) => {',
        '  const services = base(args);',
        `  return { ...services, ${onTest2}: { ...services.${onTest2}!, revision: 2 } };`,
        '};',
        '',
      ].join('\n'),
    );
    const before = (await query(m)).test1 ?? [];
    const routes = join(m.agentStateDir('test1'), 'services', 'proxy-test1', 'routes.json');
    const agentState = join(m.agentStateDir('test1'), 'state.json');
    const [routesBefore, stateBefore] = [await stat(routes), await stat(agentState)];
    const result = await m.nodix([
      'deploy',
      '-s',
      changed,
      '-i',
      m.infrastructure,
      '-d',
      'dist.json',
      '-p',
      'ports20.json',
      ...twenty,
      ...state,
    ]);
    expectOk(t, result, 'deploy');
    t.match(result.stdout, /untouched: test1/);
    t.notMatch(result.stdout, /\[target: test1\]/, 'nothing sent to test1');
    const after = (await query(m)).test1 ?? [];
    t.same(
      after.map((s) => [s.name, s.pid, s.hash]),
      before.map((s) => [s.name, s.pid, s.hash]),
      'test1 keeps its processes',
    );
    t.equal((await stat(routes)).mtimeMs, routesBefore.mtimeMs, "test1's route table not rewritten");
    t.equal((await stat(agentState)).mtimeMs, stateBefore.mtimeMs, "test1's agent state not written");
    t.same(await m.curl('test2', `${onTest2}.local`), { status: 200, body: `${onTest2}.local\n` });
  });

  await t.test(
    'an activation that fails (port taken) rolls back; the previous generation keeps serving',
    async (t) => {
      const onTest1 = Object.keys(distribution).find(
        (name) => name.startsWith('webapp') && distribution[name]?.[0] === 'test1',
      )!;
      const portsFile = JSON.parse(await readFile(join(m.work, 'ports20.json'), 'utf8')) as {
        ports: Record<string, number>;
      };
      const taken = Math.max(...Object.values(portsFile.ports)) + 1;
      const release = await m.occupy('test1', taken);
      t.teardown(release);
      const moved = join(m.work, 'services-moved.mts');
      await writeFile(
        moved,
        [
          `import base from ${JSON.stringify(join(m.work, 'services-changed.mts'))};`,
          'export default (args: Parameters<typeof base>[0]) => {',
          '  const services = base(args);',
          `  return { ...services, ${onTest1}: { ...services.${onTest1}!, port: ${taken}, portAssign: undefined } };`,
          '};',
          '',
        ].join('\n'),
      );
      const before = await query(m);
      const result = await m.nodix([
        'deploy',
        '-s',
        moved,
        '-i',
        m.infrastructure,
        '-d',
        'dist.json',
        '-p',
        'ports20.json',
        ...twenty,
        ...state,
      ]);
      t.equal(result.code, 1, `deploy fails:\n${result.stdout}\n${result.stderr}`);
      t.match(
        result.stderr,
        new RegExp(
          `activate failed on target test1, service ${onTest1}: .*already in use; rolled back to generation 3`,
        ),
      );
      const after = await query(m);
      t.same(
        after.test1?.map((s) => [s.name, s.hash]),
        before.test1?.map((s) => [s.name, s.hash]),
        'test1 runs generation 3 again',
      );
      t.same(
        await m.curl('test1', `${onTest1}.local`),
        { status: 200, body: `${onTest1}.local\n` },
        'and serves',
      );
      const list = await m.nodix(['deploy', '--list-generations', ...state.slice(0, 2)]);
      t.match(list.stdout, /^ {3}3 .*\(current\)$/m);
    },
  );

  await t.test('--rollback returns to the previous generation', async (t) => {
    const generation2 = JSON.parse(
      await readFile(join(m.work, 'coordinator', 'generations', '2.json'), 'utf8'),
    ) as {
      manifest: { targets: Record<string, { services: Record<string, { hash: string }> }> };
    };
    const result = await m.nodix(['deploy', '--rollback', ...state]);
    expectOk(t, result, 'rollback');
    t.match(result.stdout, /generation 2 is current/);
    const running = await query(m);
    for (const target of TARGETS) {
      const expected = Object.entries(generation2.manifest.targets[target]?.services ?? {})
        .map(([name, instance]) => [name, instance.hash])
        .sort();
      const actual = (running[target] ?? []).map((s) => [s.name, s.hash]).sort();
      t.same(actual, expected, `${target} runs generation 2`);
    }
  });

  await t.test('undeploy stops everything', async (t) => {
    const result = await m.nodix(['deploy', '--undeploy', ...state]);
    expectOk(t, result, 'undeploy');
    const running = await query(m);
    for (const target of TARGETS) t.same(running[target], [], `nothing on ${target}`);
  });
}
