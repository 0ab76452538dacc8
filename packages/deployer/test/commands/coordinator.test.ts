import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createAgent } from '../../src/agent/server.js';
import { GenerationStore } from '../../src/execute/generations.js';
import { api, httpGet, killGroup, newToken, processService, servicePort, tempDir } from '../agent/helpers.js';
import { runCli } from './run-cli.js';

/** `nodix deploy`, `query`, `collect-garbage` and `agent` through the real CLI entry, in process. */

const run = runCli;

const SCRIPT =
  "require('http').createServer((q,s)=>s.end(process.env.NODIX_SERVICE+(process.env.GREETING||''))).listen(+process.env.PORT,process.env.HOST)";

async function models(dir: string, agentPorts: number[], ports: number[], greeting = '') {
  const infrastructure = Object.fromEntries(
    agentPorts.map((port, index) => [
      `test${index + 1}`,
      { properties: { hostname: '127.0.0.1', agentPort: port, bindHost: '127.0.0.1' } },
    ]),
  );
  const services = Object.fromEntries(
    ports.map((port, index) => [
      `svc${index + 1}`,
      {
        name: `svc${index + 1}`,
        type: 'process',
        command: [process.execPath, '-e', SCRIPT],
        port,
        env: index === ports.length - 1 && greeting ? { GREETING: greeting } : {},
      },
    ]),
  );
  // svc1 on test1, the others on the last target.
  const distribution = Object.fromEntries(
    ports.map((_, index) => [`svc${index + 1}`, [index === 0 ? 'test1' : `test${agentPorts.length}`]]),
  );
  await writeFile(join(dir, 'infrastructure.json'), JSON.stringify(infrastructure));
  await writeFile(join(dir, 'services.json'), JSON.stringify(services));
  await writeFile(join(dir, 'distribution.json'), JSON.stringify(distribution));
}

async function agents(t: Test, count: number, token: string) {
  const ports: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const agent = await createAgent({
      host: '127.0.0.1',
      port: 0,
      stateDir: await tempDir(t),
      token,
      log: () => {},
    });
    t.teardown(async () => {
      for (const service of agent.supervisor.list()) killGroup(service.pid);
      await agent.close();
    });
    ports.push(agent.port);
  }
  return ports;
}

const MODELS = ['-s', 'services.json', '-i', 'infrastructure.json', '-d', 'distribution.json'];

t.test('deploy, query, change, rollback, list, collect garbage, undeploy', async (t) => {
  const dir = await tempDir(t, 'nodix-cli-');
  const token = newToken();
  await writeFile(join(dir, 'token'), `${token}\n`);
  const agentPorts = await agents(t, 2, token);
  const ports = [await servicePort(), await servicePort()];
  await models(dir, agentPorts, ports);
  const common = ['--state-dir', 'state', '--token-file', 'token'];

  const first = await run(['deploy', ...MODELS, ...common], dir);
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /\[coordinator\] \+\d+\.\d+s built manifests: 2 target\(s\), 2 service\(s\)/);
  t.match(first.stdout, /\[target: test1\] \+\d+\.\d+s activated svc1: started \(pid \d+, port \d+\)/);
  t.match(first.stdout, /generation 1 is current/);
  t.equal(await httpGet(ports[1]!), 'svc2');

  const query = await run(['query', '-i', 'infrastructure.json', '--token-file', 'token'], dir);
  t.equal(query.code, 0, query.stderr);
  t.match(query.stdout, /\[target: test1\] agent 127\.0\.0\.1:\d+: 1 service\(s\)/);
  t.match(query.stdout, /SERVICE\s+TYPE\s+STATE\s+PID\s+PORT\s+RESTARTS\s+UPTIME/);
  t.match(query.stdout, new RegExp(`svc2\\s+process\\s+running\\s+\\d+\\s+${ports[1]}\\s+0\\s+\\d+s`));
  const json = await run(['query', '--state-dir', 'state', '--json'], dir, { NODIX_AGENT_TOKEN: token });
  t.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout);
  t.equal(parsed.targets.test2.services[0].name, 'svc2');
  t.equal(parsed.targets.test2.services[0].instance, undefined, 'no manifest in the query output');

  await models(dir, agentPorts, ports, '-v2');
  const dry = await run(['env', ...MODELS, ...common, '--dry-run'], dir);
  t.equal(dry.code, 0, dry.stderr);
  t.match(dry.stdout, /test2: restart changed svc2\n/);
  t.match(dry.stdout, /untouched: test1/);
  t.match(dry.stdout, /dry run: nothing changed/);
  const second = await run(['env', ...MODELS, ...common], dir);
  t.equal(second.code, 0, second.stderr);
  t.equal(await httpGet(ports[1]!), 'svc2-v2');
  t.notMatch(second.stdout, /target: test1/, 'test1 is not contacted');

  const back = await run(['deploy', '--rollback', ...common], dir);
  t.equal(back.code, 0, back.stderr);
  t.equal(await httpGet(ports[1]!), 'svc2');
  const list = await run(['deploy', '--list-generations', '--state-dir', 'state'], dir);
  t.match(list.stdout, /^ {3}1 .*\(current\)$/m);
  t.match(list.stdout, /^ {3}2 .*2 target\(s\), 2 service\(s\)\s*$/m);

  const garbage = await run(['collect-garbage', '--state-dir', 'state', '--dry-run'], dir);
  t.match(garbage.stdout, /would delete generation\(s\) 2/);
  t.match(
    (await run(['collect-garbage', '--state-dir', 'state'], dir)).stdout,
    /deleted generation\(s\) 2; generation 1 is current/,
  );
  t.same(await new GenerationStore(join(dir, 'state')).list(), [1]);

  const gone = await run(['deploy', '--undeploy', ...common], dir);
  t.equal(gone.code, 0, gone.stderr);
  t.equal(await httpGet(ports[0]!), undefined);
  t.match(
    (await run(['deploy', '--list-generations', '--state-dir', 'state'], dir)).stdout,
    /0 target\(s\), 0 service\(s\)\s+\(current\)/,
  );
});

t.test(
  'collect-garbage cleans the targets too, but nothing running or used by a kept generation',
  async (t) => {
    const dir = await tempDir(t, 'nodix-cli-');
    const token = newToken();
    await writeFile(join(dir, 'token'), `${token}\n`);
    const started = [];
    for (let i = 0; i < 2; i += 1) {
      const stateDir = await tempDir(t);
      const agent = await createAgent({ host: '127.0.0.1', port: 0, stateDir, token, log: () => {} });
      let closed = false;
      t.teardown(async () => {
        for (const service of agent.supervisor.list()) killGroup(service.pid);
        if (!closed) await agent.close();
      });
      const close = () => {
        closed = true;
        return agent.close();
      };
      started.push({ agent, stateDir, close });
    }
    const [test1, test2] = started as [(typeof started)[0], (typeof started)[0]];
    const agentPorts = [test1.agent.port, test2.agent.port];
    const ports = [await servicePort(), await servicePort(), await servicePort()];
    const common = ['--state-dir', 'state', '--token-file', 'token'];
    // Generation 1: svc1 on test1, svc2 and svc3 on test2; generation 2 drops svc3; generation 3 drops svc2.
    for (const count of [3, 2, 1]) {
      await models(dir, count === 1 ? [agentPorts[0]!, agentPorts[1]!] : agentPorts, ports.slice(0, count));
      const deployed = await run(['deploy', ...MODELS, ...common], dir);
      t.equal(deployed.code, 0, deployed.stderr);
    }
    // A service the agent runs that no generation knows (started by hand): never collected.
    const manualPort = await servicePort();
    const manual = await api(test2.agent.url, 'POST', '/v1/activate', {
      token,
      body: { service: processService('manual', manualPort) },
    });
    t.equal(manual.status, 200, JSON.stringify(manual.body));
    const leftovers = (stateDir: string) =>
      ['svc1', 'svc2', 'svc3', 'manual'].filter(
        (name) =>
          existsSync(join(stateDir, 'services', name)) || existsSync(join(stateDir, 'logs', `${name}.log`)),
      );
    t.same(leftovers(test2.stateDir), ['svc2', 'svc3', 'manual'], 'test2 keeps what it ran');

    const dry = await run(['collect-garbage', '--keep', '1', '--dry-run', ...common], dir);
    t.equal(dry.code, 0, dry.stderr);
    t.match(
      dry.stdout,
      /\[target: test2\] \+\d+\.\d+s would remove 1 service directory and 1 log\(s\) of 1 unused service\(s\): svc3 /,
    );
    t.match(dry.stdout, /\[target: test1\] \+\d+\.\d+s nothing to remove/);
    t.match(dry.stdout, /would delete generation\(s\) 1\n/);
    t.same(leftovers(test2.stateDir), ['svc2', 'svc3', 'manual'], 'a dry run deletes nothing');

    // --keep 1 keeps generation 2, which places svc2 on test2: only svc3 goes.
    const kept = await run(['collect-garbage', '--keep', '1', ...common], dir);
    t.equal(kept.code, 0, kept.stderr);
    t.match(
      kept.stdout,
      /\[target: test2\] \+\d+\.\d+s removed 1 service directory and 1 log\(s\) of 1 unused service\(s\): svc3 /,
    );
    t.match(kept.stdout, /deleted generation\(s\) 1; generation 3 is current/);
    t.same(leftovers(test2.stateDir), ['svc2', 'manual']);

    const all = await run(['collect-garbage', ...common], dir);
    t.equal(all.code, 0, all.stderr);
    t.match(all.stdout, /\[target: test2\] .*removed .* of 1 unused service\(s\): svc2 /);
    t.same(leftovers(test2.stateDir), ['manual'], 'what the agent runs stays');
    t.same(leftovers(test1.stateDir), ['svc1'], 'what the current generation runs stays');
    t.equal(await httpGet(ports[0]!), 'svc1', 'and keeps serving');
    t.equal(await httpGet(manualPort), 'manual');

    // A target that cannot be reached: said, exit 1, the others cleaned all the same.
    await test1.close();
    const unreachable = await run(['collect-garbage', ...common], dir);
    t.equal(unreachable.code, 1);
    t.match(
      unreachable.stdout,
      /\[target: test1\] .*not cleaned: target test1: agent at 127\.0\.0\.1:\d+ unreachable/,
    );
    t.match(unreachable.stdout, /\[target: test2\] .*nothing to remove/);
    t.match(unreachable.stderr, /^nodix: collect-garbage: target\(s\) test1 not cleaned/);
  },
);

t.test(
  'a TypeScript model edited between deploys is read anew, not from the kept compiled copy',
  async (t) => {
    const dir = await tempDir(t, 'nodix-cli-');
    await writeFile(
      join(dir, 'infrastructure.json'),
      JSON.stringify({ test1: { properties: { hostname: '127.0.0.1', agentPort: 1 } } }),
    );
    const names = (first: string) => `export const names: string[] = ['${first}', 'shared'];\n`;
    await writeFile(join(dir, 'names.ts'), names('alpha'));
    await writeFile(
      join(dir, 'services.ts'),
      [
        "import { names } from './names.ts';",
        'const port = (i: number): number => 40000 + i;',
        'export default () =>',
        "  Object.fromEntries(names.map((name, i) => [name, { name, type: 'process', command: 'true', port: port(i) }]));",
        '',
      ].join('\n'),
    );
    const plan = async () => {
      const result = await run(
        ['deploy', '-s', 'services.ts', '-i', 'infrastructure.json', '-d', 'distribution.json', '--dry-run'],
        dir,
        { NODIX_STATE_DIR: join(dir, 'state') },
      );
      t.equal(result.code, 0, result.stderr);
      return /test1: add (.*)\n/.exec(result.stdout)?.[1];
    };
    await writeFile(join(dir, 'distribution.json'), JSON.stringify({ alpha: ['test1'], shared: ['test1'] }));
    t.equal(await plan(), 'alpha, shared');
    t.equal(
      (await readdir(join(dir, 'state', 'model-cache'))).length,
      2,
      'compiled and kept in the state dir',
    );
    t.equal(await plan(), 'alpha, shared', 'unchanged: same plan (from the kept copy)');
    await writeFile(join(dir, 'names.ts'), names('beta'));
    await writeFile(join(dir, 'distribution.json'), JSON.stringify({ beta: ['test1'], shared: ['test1'] }));
    t.equal(await plan(), 'beta, shared', 'a file the model imports changed');
  },
);

t.test('a failing activation exits 1 naming step, target and service, and rolls back', async (t) => {
  const dir = await tempDir(t, 'nodix-cli-');
  const token = newToken();
  const agentPorts = await agents(t, 1, token);
  const ports = [await servicePort(), await servicePort()];
  await models(dir, agentPorts, ports.slice(0, 1));
  const env = { NODIX_AGENT_TOKEN: token };
  t.equal((await run(['deploy', ...MODELS, '--state-dir', 'state'], dir, env)).code, 0);
  // svc2 asks for a port someone holds.
  const { createServer } = await import('node:net');
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(ports[1], '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  await models(dir, agentPorts, ports);
  const failed = await run(['deploy', ...MODELS, '--state-dir', 'state'], dir, env);
  t.equal(failed.code, 1);
  t.match(
    failed.stderr,
    /^nodix: deploy: activate failed on target test1, service svc2: svc2: port \d+ on 127\.0\.0\.1 is already in use; rolled back to generation 1\n$/,
  );
  t.match(failed.stdout, /rolling back test1 to generation 1/);
  t.equal(await httpGet(ports[0]!), 'svc1', 'generation 1 keeps serving');
});

t.test('usage errors: one line, exit 2', async (t) => {
  const dir = await tempDir(t, 'nodix-cli-');
  const cases: Array<[string[], RegExp]> = [
    [
      ['deploy', '--state-dir', 's'],
      /deploy: missing -s\/--services, -i\/--infrastructure, -d\/--distribution/,
    ],
    [['deploy', '--rollback', '--undeploy'], /--rollback and --undeploy cannot be combined/],
    [['deploy', '--rollback', '-s', 'x.ts'], /--rollback takes no -s\/-d models/],
    [['deploy', '--rollback', '--state-dir', 's'], /no generation before 0 to roll back to/],
    [['deploy', '--switch-to-generation', '3', '--state-dir', 's'], /generation 3 does not exist/],
    [
      ['deploy', '--switch-to-generation', 'abc'],
      /--switch-to-generation must be a non-negative integer, got 'abc'/,
    ],
    [
      ['deploy', '--switch-to-generation', 'x', '--state-dir', 's'],
      /--switch-to-generation must be a non-negative integer/,
    ],
    [['deploy', '--delete-generations', 'some', '--state-dir', 's'], /takes 'old' or generation numbers/],
    [['deploy', '--undeploy', '--token-file', 'missing-token'], /cannot read token file/],
    [['deploy', '--bogus'], /unknown option '--bogus'/],
    [['query', '--state-dir', 's'], /nothing is deployed; name the infrastructure with -i/],
    [['collect-garbage', '--keep', 'x'], /--keep must be a non-negative integer/],
    // A negative number is a value, not an option: the message is about the value.
    [['collect-garbage', '--keep', '-1'], /collect-garbage: --keep -1 is out of range \(must be 0 or more\)/],
    [['collect-garbage', '--keep=-1'], /--keep -1 is out of range/],
    [['deploy', '--ready-timeout', '-5', '--undeploy'], /--ready-timeout -5 is out of range/],
    [['collect-garbage', '--keep', '-x'], /option '--keep' needs a value \(write --keep=-VALUE/],
    [['agent'], /missing --state-dir/],
    [['agent', '--state-dir', 's', '--listen', 'nowhere'], /--listen must be HOST:PORT/],
    [['agent', '--state-dir', 's', '--listen', '127.0.0.1:0'], /no token/],
    [
      ['agent', '--state-dir', 's', '--listen', '0.0.0.0:0', '--insecure'],
      /only allowed on a loopback address/,
    ],
  ];
  for (const [argv, message] of cases) {
    const result = await run(argv, dir);
    t.equal(result.code, 2, `${argv.join(' ')}: ${result.stderr}`);
    t.match(result.stderr, message, argv.join(' '));
    t.equal(result.stderr.trim().split('\n').length, 1, 'one line');
    // Arguments are checked before anything starts: no "[coordinator] nodix deploy started" before the error.
    t.equal(result.stdout, '', `${argv.join(' ')}: nothing on stdout`);
  }
  const listed = await run(['deploy', '--list-generations', '--state-dir', 's'], dir);
  t.equal(listed.code, 0);
  t.equal(listed.stdout, 'no generations yet\n');
});

t.test('an unreachable agent: query shows the others and exits 1', async (t) => {
  const dir = await tempDir(t, 'nodix-cli-');
  const token = newToken();
  const [alive] = await agents(t, 1, token);
  const dead = await servicePort();
  await models(dir, [alive!, dead], []);
  const result = await run(['query', '-i', 'infrastructure.json'], dir, { NODIX_AGENT_TOKEN: token });
  t.equal(result.code, 1);
  t.match(result.stdout, /\[target: test1\] agent 127\.0\.0\.1:\d+: 0 service\(s\)/);
  t.match(
    result.stdout,
    /\[target: test2\] agent 127\.0\.0\.1:\d+: ERROR target test2: agent at 127\.0\.0\.1:\d+ unreachable \(ECONNREFUSED\)/,
  );
  const wrong = await run(['query', '-i', 'infrastructure.json'], dir, { NODIX_AGENT_TOKEN: 'wrong' });
  t.match(wrong.stdout, /refused the token \(401\)/);
  t.equal(wrong.code, 1);
});
