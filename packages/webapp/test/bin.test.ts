import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const BIN = fileURLToPath(new URL('../bin/nodix-webapp.js', import.meta.url));

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c) => {
    out += c;
  });
  child.stderr!.setEncoding('utf8').on('data', (c) => {
    err += c;
  });
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, stdout: () => out, stderr: () => err, exit };
}

async function ready(r: Run): Promise<number> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const m = /listening on 127\.0\.0\.1:(\d+)\n/.exec(r.stdout());
    if (m) return Number(m[1]);
    if (r.child.exitCode !== null) throw new Error(`exited early: ${r.stderr()}`);
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error('no ready line');
}

t.test('prints the ready line, answers with its name, exits 0 on SIGTERM', async (t) => {
  const r = run(['--name', 'webapp1.local', '--port', '0', '--host', '127.0.0.1']);
  const port = await ready(r);
  t.match(r.stdout(), /^webapp1\.local listening on 127\.0\.0\.1:\d+\n$/);
  const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { host: 'webapp1.local' } });
  t.equal(await res.text(), 'webapp1.local\n');
  r.child.kill('SIGTERM');
  t.equal(await r.exit, 0);
  t.equal(r.stderr(), '');
});

t.test('SIGINT also drains and exits 0; environment configures it', async (t) => {
  const r = run([], { NODIX_WEBAPP_NAME: 'webapp9.local', PORT: '0', NODIX_WEBAPP_HOST: '127.0.0.1' });
  const port = await ready(r);
  t.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), 'webapp9.local\n');
  r.child.kill('SIGINT');
  t.equal(await r.exit, 0);
});

const mistakes: Array<[string[], RegExp]> = [
  [['--name', ''], /^nodix-webapp: invalid configuration: name: is required/],
  [
    ['--name', 'webapp1.local', '--port', '70000'],
    /port: is out of range: must be a TCP port from 0 to 65535 \(value was 70000\)/,
  ],
  // A negative number is a value, out of range (parseArgs called it "ambiguous", over three lines).
  [['--name', 'webapp1.local', '--port', '-5'], /port: is out of range: .*\(value was -5\)/],
  [
    ['--name', '-', '--port', '0'],
    /name: must be a virtual host name such as webapp1\.local \(value was "-"\)/,
  ],
  [
    ['--name', 'webapp1.local', '--port'],
    /^nodix-webapp: Option '--port <value>' argument missing \(see --help\)\n$/,
  ],
  [['--name', 'webapp1.local', '--colour', 'blue'], /Unknown option '--colour'/],
  [['--name', 'webapp1.local', '--config', '/nonexistent/nodix.json'], /cannot read config file/],
];
for (const [args, expected] of mistakes) {
  t.test(`bad configuration ${args.join(' ')}: one line, exit 2`, async (t) => {
    const r = run(args);
    t.equal(await r.exit, 2);
    t.match(r.stderr(), expected);
    t.equal(r.stderr().trimEnd().split('\n').length, 1, 'exactly one line');
    t.notMatch(r.stderr(), /at .*\.js:\d+/, 'no stack trace');
    t.equal(r.stdout(), '');
  });
}

t.test('a port in use: one line, exit 1', async (t) => {
  const first = run(['--name', 'a.local', '--port', '0', '--host', '127.0.0.1']);
  const port = await ready(first);
  const second = run(['--name', 'b.local', '--port', String(port), '--host', '127.0.0.1']);
  t.equal(await second.exit, 1);
  t.match(second.stderr(), /^nodix-webapp: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE\n$/);
});

t.test('--help', async (t) => {
  const r = run(['--help']);
  t.equal(await r.exit, 0);
  t.match(r.stdout(), /Usage: nodix-webapp/);
  t.match(r.stdout(), /--name NAME/);
});

t.test('--version and -v print the package version alone, as nodix --version does', async (t) => {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  for (const flag of ['--version', '-v']) {
    const r = run([flag]);
    t.equal(await r.exit, 0);
    t.equal(r.stdout(), `${version}\n`);
    t.equal(r.stderr(), '');
  }
});
