import { spawnSync } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import t from 'tap';
import { agentUnit } from '../packages/deployer/src/agent/systemd-unit.js';
import { runCli } from '../packages/deployer/test/commands/run-cli.js';
import { ROOT } from './helpers/machines.js';

// The systemd units in the repo (packages/*/systemd/*.service) and the one `nodix agent print-unit` prints, checked
// by systemd itself (`systemd-analyze verify`, Debian package systemd, installed by .ci/run). verify exits 0 on
// many mistakes (an unknown key, a bad Restart= value) and only warns, so any output counts as a failure too.

interface Verdict {
  ok: boolean;
  output: string;
}

function verify(unitPath: string, root?: string): Verdict {
  const args = ['verify', '--man=no', ...(root ? [`--root=${root}`, basename(unitPath)] : [unitPath])];
  const result = spawnSync('systemd-analyze', args, { encoding: 'utf8' });
  if (result.error)
    throw new Error(`systemd-analyze cannot run (.ci/run installs it): ${result.error.message}`);
  const output = `${result.stdout}${result.stderr}`.trim();
  return { ok: result.status === 0 && output === '', output };
}

/**
 * A file system root holding the unit in /etc/systemd/system, this machine's systemd units (the targets it names),
 * and an executable stub at each path the unit runs: the repo's units run /usr/local/bin/nodix and nodix-proxy,
 * where `npm install -g` puts the bins, which need not exist on the machine that runs the tests.
 */
async function rootFor(unitPath: string): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'nodix-systemd-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'etc', 'systemd', 'system'), { recursive: true });
  await mkdir(join(root, 'usr', 'lib', 'systemd'), { recursive: true });
  await cp('/usr/lib/systemd/system', join(root, 'usr', 'lib', 'systemd', 'system'), {
    recursive: true,
    verbatimSymlinks: true,
  });
  const text = await readFile(unitPath, 'utf8');
  await writeFile(join(root, 'etc', 'systemd', 'system', basename(unitPath)), text);
  for (const [, command] of text.matchAll(/^Exec\w+=[-@:+!]*(\S+)/gm)) {
    const stub = join(root, command as string);
    await mkdir(join(stub, '..'), { recursive: true });
    await writeFile(stub, '#!/bin/sh\nexit 0\n', { flag: 'a' });
    await chmod(stub, 0o755);
  }
  return root;
}

async function unitFiles(): Promise<string[]> {
  const files: string[] = [];
  for (const pkg of await readdir(join(ROOT, 'packages'))) {
    const dir = join(ROOT, 'packages', pkg, 'systemd');
    const names = await readdir(dir).catch(() => [] as string[]);
    files.push(...names.filter((name) => name.endsWith('.service')).map((name) => join(dir, name)));
  }
  return files.sort();
}

const printUnit = (argv: string[]) => runCli(['agent', 'print-unit', ...argv], ROOT);

const HARDENED = [
  /^NoNewPrivileges=yes$/m,
  /^ProtectSystem=strict$/m,
  /^ProtectHome=yes$/m,
  /^PrivateTmp=yes$/m,
  /^User=nodix$/m,
  /^Restart=on-failure$/m,
  /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$/m,
];

t.test('every unit file in the repo passes systemd-analyze verify and is hardened', async (t) => {
  const files = await unitFiles();
  t.same(
    files.map((file) => file.slice(ROOT.length + 1)),
    ['packages/deployer/systemd/nodix-agent.service', 'packages/proxy/systemd/nodix-proxy.service'],
  );
  for (const file of files) {
    const verdict = verify(file, await rootFor(file));
    t.ok(verdict.ok, `${basename(file)}: ${verdict.output || 'clean'}`);
    const text = await readFile(file, 'utf8');
    for (const line of HARDENED) t.match(text, line, `${basename(file)}: ${line.source}`);
  }
  const agent = await readFile(join(ROOT, 'packages/deployer/systemd/nodix-agent.service'), 'utf8');
  t.match(agent, /^ReadWritePaths=\/var\/lib\/nodix$/m, 'only the state directory is writable');
  t.match(agent, /^KillMode=process$/m, 'services outlive an agent restart');
  const proxy = await readFile(join(ROOT, 'packages/proxy/systemd/nodix-proxy.service'), 'utf8');
  t.match(proxy, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m, 'reload is SIGHUP');
});

t.test('the agent unit in the repo is what print-unit makes for a global install', async (t) => {
  const printed = await printUnit(['--exec', '/usr/local/bin/nodix']);
  t.equal(printed.code, 0, printed.stderr);
  t.equal(
    printed.stdout,
    await readFile(join(ROOT, 'packages/deployer/systemd/nodix-agent.service'), 'utf8'),
    'regenerate it with: node packages/deployer/bin/nodix.js agent print-unit --exec /usr/local/bin/nodix',
  );
});

t.test('print-unit output passes systemd-analyze verify as it is (its ExecStart exists here)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nodix-unit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const cases = [
    [],
    ['--state-dir', '/srv/nodix state', '--listen', '[::]:7500', '--user', 'deploy'],
    ['--socket', 'default'],
  ];
  for (const argv of cases) {
    const printed = await printUnit(argv);
    t.equal(printed.code, 0, printed.stderr);
    t.match(printed.stdout, new RegExp(`^ExecStart=${process.execPath} \\S+/bin/nodix\\.js agent `, 'm'));
    const file = join(dir, 'nodix-agent.service');
    await writeFile(file, printed.stdout);
    const verdict = verify(file);
    t.ok(verdict.ok, `print-unit ${argv.join(' ')}: ${verdict.output || 'clean'}`);
  }
  const spaced = await printUnit(cases[1] as string[]);
  t.match(spaced.stdout, /^ReadWritePaths="\/srv\/nodix state"$/m, 'a path with a space is quoted');
  t.match(spaced.stdout, /--state-dir "\/srv\/nodix state" --token-file "\/srv\/nodix state\/token"/);
  const socket = await printUnit(['--socket', 'default']);
  t.match(
    socket.stdout,
    /agent --state-dir \/var\/lib\/nodix --socket \/var\/lib\/nodix\/agent\.sock$/m,
    'an SSH agent',
  );
  t.notMatch(socket.stdout, /--token-file|--listen/, 'has no token and no port');
  const relative = await printUnit(['--state-dir', 'state']);
  t.equal(relative.code, 2);
  t.match(relative.stderr, /--state-dir must be an absolute path, got 'state'/);
});

t.test('the check fails on a broken unit', async (t) => {
  const good = agentUnit({
    exec: [process.execPath],
    stateDir: '/var/lib/nodix',
    tokenFile: '/var/lib/nodix/token',
    listen: '0.0.0.0:7411',
    user: 'nodix',
  });
  const dir = await mkdtemp(join(tmpdir(), 'nodix-unit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const broken: Array<[string, string]> = [
    ['a misspelled key', good.replace('ProtectHome=yes', 'ProtectHomes=yes')],
    ['a bad value', good.replace('Restart=on-failure', 'Restart=sometimes')],
    ['a missing binary', good.replace(`ExecStart=${process.execPath}`, 'ExecStart=/nonexistent/nodix')],
    ['a relative ExecStart', good.replace(`ExecStart=${process.execPath}`, 'ExecStart=bin/nodix.js')],
  ];
  const file = join(dir, 'nodix-agent.service');
  await writeFile(file, good);
  t.ok(verify(file).ok, 'the good one passes');
  for (const [what, text] of broken) {
    t.not(text, good, `${what}: the unit changed`);
    await writeFile(file, text);
    const verdict = verify(file);
    t.notOk(verdict.ok, `${what}: refused (${verdict.output})`);
  }
});
