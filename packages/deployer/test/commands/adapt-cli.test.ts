import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createAgent } from '../../src/agent/server.js';
import { httpGet, killGroup, newToken, servicePort, tempDir } from '../agent/helpers.js';
import { runCli } from './run-cli.js';

/** `nodix capture-infra` and `nodix self-adapt` through the real CLI entry, in process: help, input errors, output. */

const run = runCli;

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const GREEDY_QOS =
  "export default ({ services, infrastructure, initialDistribution, filters }) => filters.divide({ strategy: 'greedy', distribution: initialDistribution, services, infrastructure, serviceProperty: 'weight', targetProperty: 'capacity' });\n";

/** An agent on a loopback port 0 with its own token, closed (and its services killed) in teardown. */
async function startAgent(t: Test) {
  const token = newToken();
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
  return { agent, token };
}

t.test('--help for both commands', async (t) => {
  const dir = await tempDir(t);
  for (const command of ['capture-infra', 'self-adapt']) {
    const answer = await run([command, '--help'], dir);
    t.equal(answer.code, 0);
    t.match(answer.stdout, new RegExp(`^Usage: nodix ${command} `));
  }
  t.match(
    (await run(['self-adapt', '--help'], dir)).stdout,
    /--down-after N[\s\S]*--up-after M[\s\S]*--rebalance/,
  );
});

t.test(
  'capture-infra: declared properties with the captured ones under `captured`, unreachable apart',
  async (t) => {
    const dir = await tempDir(t);
    const { agent, token } = await startAgent(t);
    const gone = await closedPort();
    await writeFile(
      join(dir, 'infrastructure.json'),
      JSON.stringify({
        test1: { properties: { hostname: '127.0.0.1', agentPort: agent.port, capacity: 10 } },
        test2: { properties: { hostname: '127.0.0.1', agentPort: gone, capacity: 5 } },
      }),
    );
    await writeFile(join(dir, 'token'), `${token}\n`);
    const json = await run(
      ['capture-infra', '-i', 'infrastructure.json', '--token-file', 'token', '--json'],
      dir,
    );
    t.equal(json.code, 1, 'a target is unreachable: exit 1, everything else still printed');
    const report = JSON.parse(json.stdout);
    t.match(report.infrastructure.test1.properties, {
      hostname: '127.0.0.1',
      capacity: 10,
      captured: { hostname: hostname(), reachable: true, node: process.version },
    });
    t.same(Object.keys(report.infrastructure), ['test1'], 'only reachable targets in the model');
    t.match(report.unreachable.test2, {
      agent: { host: '127.0.0.1', port: gone },
      properties: { capacity: 5 },
      error: { code: 'NODIX_ERR_AGENT_UNREACHABLE', message: /ECONNREFUSED/ },
    });

    // The printed model is an infrastructure model nodix accepts.
    await writeFile(join(dir, 'captured.json'), JSON.stringify(report.infrastructure));
    const again = await run(['capture-infra', '-i', 'captured.json', '--token-file', 'token'], dir);
    t.equal(again.code, 0);
    t.match(
      again.stdout,
      /\[target: test1\] agent 127\.0\.0\.1:\d+: reachable\n {2}declared: .*"capacity":10/,
    );
    t.match(again.stdout, /captured: host \S+, \d+ CPU\(s\), [\d.]+ GiB memory/);

    const text = await run(['capture-infra', '-i', 'infrastructure.json', '--token-file', 'token'], dir);
    t.match(
      text.stdout,
      /unreachable:\n {2}\[target: test2\] target test2: agent at 127\.0\.0\.1:\d+ unreachable \(ECONNREFUSED\)/,
    );
    const refused = await run(['capture-infra', '-i', 'infrastructure.json', '--json'], dir);
    t.match(JSON.parse(refused.stdout).unreachable.test1.error.message, /requires a token \(401\)/);
  },
);

t.test('bad input: one line naming the option or file and the value, exit 2', async (t) => {
  const dir = await tempDir(t);
  await writeFile(
    join(dir, 'infrastructure.json'),
    JSON.stringify({ test1: { properties: { capacity: 'x' } } }),
  );
  await writeFile(
    join(dir, 'services.json'),
    JSON.stringify({ web: { name: 'web', type: 'webapp', dnsName: 'w', port: 3000, weight: 1 } }),
  );
  await writeFile(join(dir, 'qos.mjs'), GREEDY_QOS);
  const models = ['-s', 'services.json', '-i', 'infrastructure.json', '-q', 'qos.mjs'];
  const cases: Array<[string, string[], RegExp]> = [
    [
      'missing -q',
      ['-s', 'services.json', '-i', 'infrastructure.json'],
      /^nodix: self-adapt: missing -q\/--qos/,
    ],
    [
      'bad --interval',
      [...models, '--interval', 'soon'],
      /--interval must be a number of seconds > 0, got 'soon'/,
    ],
    [
      'zero --interval',
      [...models, '--interval', '0'],
      /--interval must be a number of seconds > 0, got '0'/,
    ],
    ['zero --down-after', [...models, '--down-after', '0'], /--down-after must be at least 1, got '0'/],
    [
      'bad --up-after',
      [...models, '--up-after', 'two'],
      /--up-after must be a non-negative integer, got 'two'/,
    ],
    [
      'missing qos file',
      ['-s', 'services.json', '-i', 'infrastructure.json', '-q', 'nope.ts'],
      /^nodix: nope\.ts: no such file$/m,
    ],
    ['bad ports file', [...models, '-p', 'services.json'], /^nodix: services\.json: /],
    [
      'a model the qos model cannot use',
      models,
      /^nodix: infrastructure\.json: test1\.properties\.capacity: must be a number to divide on it, got "x"$/m,
    ],
  ];
  for (const [name, argv, message] of cases) {
    const answer = await run(['self-adapt', ...argv, '--state-dir', 'state'], dir);
    t.equal(answer.code, 2, `${name}: exit 2`);
    t.match(answer.stderr, message, name);
    t.equal(answer.stderr.trim().split('\n').length, 1, `${name}: one line`);
  }
  const capture = await run(['capture-infra', '--timeout', 'x', '-i', 'infrastructure.json'], dir);
  t.equal(capture.code, 2);
  t.match(capture.stderr, /capture-infra: --timeout must be a non-negative integer, got 'x'/);
  t.match((await run(['capture-infra'], dir)).stderr, /capture-infra: missing -i\/--infrastructure/);
});

t.test(
  '--once with nothing deployed: the first placement on the targets that answer; --dry-run decides only',
  async (t) => {
    const dir = await tempDir(t);
    const { agent, token } = await startAgent(t);
    const gone = await closedPort();
    const port = await servicePort();
    await writeFile(
      join(dir, 'infrastructure.json'),
      JSON.stringify({
        test1: { properties: { hostname: '127.0.0.1', agentPort: gone, bindHost: '127.0.0.1', capacity: 5 } },
        test2: {
          properties: { hostname: '127.0.0.1', agentPort: agent.port, bindHost: '127.0.0.1', capacity: 5 },
        },
      }),
    );
    const script =
      "require('http').createServer((q,s)=>s.end('svc')).listen(+process.env.PORT,process.env.HOST)";
    await writeFile(
      join(dir, 'services.json'),
      JSON.stringify({
        svc: { name: 'svc', type: 'process', command: [process.execPath, '-e', script], port, weight: 1 },
      }),
    );
    await writeFile(join(dir, 'qos.mjs'), GREEDY_QOS);
    await writeFile(join(dir, 'token'), `${token}\n`);
    const argv = [
      'self-adapt',
      ...['-s', 'services.json', '-i', 'infrastructure.json', '-q', 'qos.mjs', '--token-file', 'token'],
      ...['--state-dir', 'state', '--once', '--interval', '0.05', '--down-after', '2', '--json'],
    ];
    const lines = (stdout: string) =>
      stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));

    const dry = await run([...argv, '--dry-run'], dir);
    t.equal(dry.code, 0, dry.stderr);
    const dryDecision = lines(dry.stdout).find((e) => e.event === 'adapted');
    t.match(dryDecision, { trigger: { initial: true, returned: ['test2'] }, dryRun: true, generation: 0 });
    t.equal(await httpGet(port), undefined, 'the dry run started nothing');

    const real = await run(argv, dir);
    t.equal(real.code, 0, real.stderr);
    const events = lines(real.stdout);
    t.same(
      events.map((e) => e.event),
      ['start', 'probe', 'target-down', 'decided', 'adapted', 'stop'],
      'test1 fails twice before it counts as gone; then one decision',
    );
    t.match(events[4], {
      trigger: { lost: [], returned: ['test2'], initial: true },
      moved: [{ service: 'svc', from: [], to: ['test2'] }],
      generation: 1,
      changed: true,
    });
    t.match(real.stderr, /\[target: test2\] .*activated svc/, "the deploy's step lines go to standard error");
    t.equal(await httpGet(port), 'svc', 'placed on test2, the target that answers, and serving');

    const again = await run(argv, dir);
    t.same(
      lines(again.stdout).filter((e) => e.event === 'adapted'),
      [],
      'nothing changed since: no decision',
    );
  },
);
