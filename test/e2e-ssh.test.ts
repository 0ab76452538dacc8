import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { EXAMPLE, sshMachines, TARGETS } from './helpers/machines.js';
import { run } from './helpers/run.js';
import { runScenarios, staticModelArgs } from './helpers/scenarios.js';

// The README's scenarios with the targets reached over SSH (clientInterface 'ssh'): a real sshd in each target's
// network namespace, the agents on Unix sockets, the coordinator's known_hosts written by the test. Then what only
// SSH brings: host keys, an agent that is not running, nodix missing on the target, a connection cut mid-deploy.
t.setTimeout(600_000);

const m = await sshMachines();
t.teardown(() => m.destroy());

const state = ['--state-dir', join(m.work, 'coordinator')];
const staticModels = staticModelArgs(m);

type Answer = {
  services?: Array<{ name: string; pid: number; hash: string; state: string }>;
  error?: { code: string; message: string };
};

/** `nodix query --json`, whatever its exit code (an unreachable target is an answer too). */
async function query(infrastructure = m.infrastructure): Promise<Record<string, Answer>> {
  const result = await m.nodix(['query', '-i', infrastructure, '--json']);
  return (JSON.parse(result.stdout) as { targets: Record<string, Answer> }).targets;
}

const names = (answer: Answer | undefined) => (answer?.services ?? []).map((s) => [s.name, s.pid]);

await runScenarios(t, m);

await t.test('no agent TCP port on a target reached over SSH', async (t) => {
  for (const target of TARGETS) {
    const [command, args] = m.on(target, 'ss', ['-ltnpH']);
    const listening = await run(command, args);
    t.equal(listening.code, 0, 'ss runs');
    const pid = m.agentPid(target);
    t.ok(pid, `the agent of ${target} runs`);
    t.notMatch(listening.stdout, new RegExp(`pid=${pid},`), `the agent of ${target} listens on no TCP port`);
    t.notMatch(listening.stdout, /:7411\b/, 'nothing on the agent port');
    t.match(listening.stdout, /:22\b.*sshd/, 'sshd does');
  }
});

await t.test('deploy the example again for the SSH failure scenarios', async (t) => {
  const deployed = await m.nodix(['deploy', ...staticModels, '-p', 'ports.json', ...state]);
  t.equal(deployed.code, 0, `deploy${deployed.code ? `: ${deployed.stdout}${deployed.stderr}` : ''}`);
});

await t.test('a wrong host key is refused and changes nothing', async (t) => {
  const before = await query();
  const good = await readFile(m.ssh.knownHosts, 'utf8');
  t.teardown(() => writeFile(m.ssh.knownHosts, good));
  // test2's entry names another host's key: what a man in the middle, or a reinstalled machine, looks like.
  const otherKey = (m.sshd.get('test1')?.hostKey ?? '').split(' ').slice(0, 2).join(' ');
  await writeFile(m.ssh.knownHosts, good.replace(/^test2 .*$/m, `test2 ${otherKey}`));
  const result = await m.nodix(['deploy', '--undeploy', ...state]);
  t.equal(result.code, 1, 'refused');
  t.match(result.stderr, /target test2: host key of root@test2 does not match known_hosts/);
  t.equal(result.stderr.trim().split('\n').length, 1, 'one line');

  // No entry at all: an unknown host is refused too (BatchMode cannot ask, and nodix never turns checking off).
  await writeFile(m.ssh.knownHosts, good.replace(/^test2 .*\n/m, ''));
  const unknown = await m.nodix(['deploy', '--undeploy', ...state]);
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /host key of root@test2 is not in known_hosts/);

  await writeFile(m.ssh.knownHosts, good);
  const after = await query();
  for (const target of TARGETS) t.same(names(after[target]), names(before[target]), `${target} unchanged`);
});

await t.test('a login that is refused says permission denied', async (t) => {
  const result = await m.nodix([
    'query',
    '-i',
    await m.infrastructureWith('nobody.json', (target) => ({ sshTarget: `nobody@${target}` })),
  ]);
  t.equal(result.code, 1);
  t.match(
    result.stdout,
    /\[target: test1\] agent ssh nobody@test1: ERROR target test1: permission denied logging in to nobody@test1/,
  );
});

await t.test('a target whose agent is not running: one clear line', async (t) => {
  const before = await query();
  await m.stopAgent('test2');
  const result = await m.nodix(['deploy', '--undeploy', ...state]);
  t.equal(result.code, 1);
  t.match(
    result.stderr,
    /target test2: no nodix agent is running on root@test2 \(socket \S+agent\.sock\): start it with systemctl start nodix-agent/,
  );
  await m.startAgent('test2');
  const after = await query();
  for (const target of TARGETS) t.same(names(after[target]), names(before[target]), `${target} unchanged`);
  const again = await m.nodix(['deploy', ...staticModels, '-p', 'ports.json', ...state]);
  t.equal(again.code, 0, `test1's lock was released: ${again.stderr}`);
});

await t.test('a target without nodix: one clear line', async (t) => {
  // A machine without nodix runs no agent either: nothing answers on the socket the coordinator tries first.
  const missing = await m.infrastructureWith('no-nodix.json', (target) => ({
    nodixCommand: 'nodix-not-installed-here',
    agentSocket: join(m.work, `no-agent-${target}.sock`),
  }));
  const result = await m.nodix(['query', '-i', missing]);
  t.equal(result.code, 1);
  t.match(result.stdout, /nodix is not installed on root@test1 \('nodix-not-installed-here agent connect/);
});

await t.test(
  'a connection cut mid-deploy: rolled back, the other target unchanged, resumed once it is back',
  async (t) => {
    const before = await query();
    // test1 gets a process that takes 8 s to count as started: the link goes down while the coordinator waits for it.
    const services = join(m.work, 'services-slow.mts');
    await writeFile(
      services,
      [
        `import base from ${JSON.stringify(join(EXAMPLE, 'services.ts'))};`,
        'export default (args: Parameters<typeof base>[0]) => ({',
        '  ...base(args),',
        "  slow: { name: 'slow', type: 'process', command: 'sleep 600', settleMs: 8000 },",
        "  quick: { name: 'quick', type: 'process', command: 'sleep 600', settleMs: 100 },",
        '});',
        '',
      ].join('\n'),
    );
    const distribution = join(m.work, 'distribution-slow.mts');
    await writeFile(
      distribution,
      [
        `import base from ${JSON.stringify(join(EXAMPLE, 'distribution.ts'))};`,
        'export default (args: Parameters<typeof base>[0]) => ({',
        '  ...base(args),',
        '  slow: [args.infrastructure.test1],',
        '  quick: [args.infrastructure.test2],',
        '});',
        '',
      ].join('\n'),
    );
    const fast = [
      '--ssh-option',
      'ServerAliveInterval=1',
      '--ssh-option',
      'ServerAliveCountMax=2',
      '--ssh-option',
      'ConnectTimeout=3',
    ];
    const test1 = m.network.machines.get('test1')?.namespace as string;
    const [command, args] = m.on('client', 'env', [
      `NODIX_SSH_CONFIG=${m.ssh.config}`,
      process.execPath,
      join(EXAMPLE, '..', '..', 'packages', 'deployer', 'bin', 'nodix.js'),
      'deploy',
      '-s',
      services,
      '-i',
      m.infrastructure,
      '-d',
      distribution,
      '-p',
      'ports.json',
      ...fast,
      ...state,
    ]);
    const { spawn } = await import('node:child_process');
    const deploy = spawn(command, args, { cwd: m.work, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let cut = false;
    deploy.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    const done = new Promise<number | null>((resolve) => deploy.once('close', resolve));
    deploy.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
      if (!cut && /activated quick/.test(stdout)) {
        cut = true;
        void run('ip', ['-n', test1, 'link', 'set', 'eth0', 'down']);
      }
    });
    t.teardown(() => run('ip', ['-n', test1, 'link', 'set', 'eth0', 'up']));
    const code = await done;
    t.ok(cut, 'the link went down while test1 was activating');
    t.equal(code, 1, `the deploy fails${code === 1 ? '' : `:\n${stdout}\n${stderr}`}`);
    t.match(stderr, /activate failed on target test1, service slow: connection to root@test1 lost/);
    t.match(stderr, /test2 rolled back; target test1 not/);
    const resume = /Resume with: (.*)$/m.exec(stderr)?.[1];
    t.ok(resume, 'a command to resume is printed');
    const whileCut = await query();
    t.same(names(whileCut.test2), names(before.test2), 'test2 runs what it ran before');

    await run('ip', ['-n', test1, 'link', 'set', 'eth0', 'up']);
    const resumed = await m.nodix([
      'deploy',
      ...(resume ?? '').split(' ').slice(2),
      '--ssh-option',
      'ConnectTimeout=3',
    ]);
    t.equal(
      resumed.code,
      0,
      `the resumed deploy succeeds${resumed.code ? `:\n${resumed.stdout}\n${resumed.stderr}` : ''}`,
    );
    t.match(resumed.stdout, /taking over the locks of the unfinished deployment/);
    const after = await query();
    for (const target of TARGETS) {
      t.same(
        (after[target]?.services ?? []).map((s) => [s.name, s.hash]).sort(),
        (before[target]?.services ?? []).map((s) => [s.name, s.hash]).sort(),
        `${target} runs the previous generation`,
      );
    }
  },
);

await t.test('--undeploy over SSH, then collect-garbage cleans the targets', async (t) => {
  const result = await m.nodix(['deploy', '--undeploy', ...state]);
  t.equal(result.code, 0, `undeploy${result.code ? `: ${result.stdout}${result.stderr}` : ''}`);
  for (const [target, answer] of Object.entries(await query()))
    t.same(answer.services, [], `nothing on ${target}`);
  const garbage = await m.nodix(['collect-garbage', ...state]);
  t.equal(garbage.code, 0, `collect-garbage${garbage.code ? `: ${garbage.stdout}${garbage.stderr}` : ''}`);
  t.match(garbage.stdout, /\[target: test1\] \+\S+ removed \d+ service director/);
});
