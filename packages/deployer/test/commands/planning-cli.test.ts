import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { golden } from '../golden.js';

// The built CLI, as users run it: `npm run build` (or tsc -b) must have run first.
const BIN = fileURLToPath(new URL('../../bin/nodix.js', import.meta.url));
const BUILT = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../../../examples/virtualhosts/', import.meta.url));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function nodix(args: string[], cwd: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    // Through `env -u NODE_OPTIONS`: tap puts its coverage hook into NODE_OPTIONS of every child it sees spawned,
    // which makes each short CLI run cost four times the CPU, for coverage of dist/ nobody reads.
    const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, BIN, ...args], {
      cwd,
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
  });
}

/** Runs `jobs` two at a time: the machine is shared, and each run starts a Node process. */
async function inPairs<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < jobs.length; i += 2)
    results.push(...(await Promise.all(jobs.slice(i, i + 2).map((job) => job()))));
  return results;
}

t.before(() => {
  if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: build first (npx tsc -b packages/deployer)`);
});

const webapp = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  type: 'webapp',
  dnsName: `${name}.local`,
  ...extra,
});

t.test('every user mistake: one line on stderr, no stack, exit 2 (1 for run-time failures)', async (t) => {
  const dir = t.testdir({
    'infra.json': JSON.stringify({
      test1: { properties: { hostname: 'test1', capacity: 1 } },
      test2: { properties: { hostname: 'test2', capacity: 1 } },
    }),
    'services.json': JSON.stringify({
      webapp1: webapp('webapp1', { port: 3001, weight: 1 }),
      webapp2: webapp('webapp2', { port: 3002, weight: 1 }),
    }),
    'dist.json': JSON.stringify({ webapp1: ['test1'], webapp2: ['test2'] }),
    'dist-test1.json': JSON.stringify({ webapp1: ['test1'], webapp2: ['test1'] }),
    'name-mismatch.json': JSON.stringify({ webapp1: webapp('webapp2') }),
    'missing-dep.json': JSON.stringify({ a: { name: 'a', type: 'process', dependsOn: ['ghost'] } }),
    'cycle.json': JSON.stringify({
      a: { name: 'a', type: 'process', dependsOn: ['b'] },
      b: { name: 'b', type: 'process', dependsOn: ['a'] },
    }),
    'unknown-type.json': JSON.stringify({ a: { name: 'a', type: 'lambda' } }),
    'dist-unknown-service.json': JSON.stringify({ webapp9: ['test1'] }),
    'dist-unknown-target.json': JSON.stringify({ webapp1: ['test3'] }),
    'dup-dns.json': JSON.stringify({
      webapp1: webapp('webapp1', { port: 3001 }),
      webapp2: webapp('webapp2', { port: 3002, dnsName: 'webapp1.local' }),
    }),
    'dup-port.json': JSON.stringify({
      webapp1: webapp('webapp1', { port: 3001 }),
      webapp2: webapp('webapp2', { port: 3001 }),
    }),
    'three.json': JSON.stringify({
      webapp1: webapp('webapp1', { weight: 1 }),
      webapp2: webapp('webapp2', { weight: 1 }),
      webapp3: webapp('webapp3', { weight: 1 }),
    }),
    'qos.mjs': `export default ({ services, infrastructure, initialDistribution, filters }) =>
  filters.divide({ strategy: 'greedy', distribution: initialDistribution, services, infrastructure,
    serviceProperty: 'weight', targetProperty: 'capacity' });
`,
    'assigned.json': JSON.stringify({
      webapp1: webapp('webapp1', { portAssign: 'shared' }),
      webapp2: webapp('webapp2', { portAssign: 'shared' }),
      webapp3: webapp('webapp3', { portAssign: 'shared' }),
    }),
    'dist-three.json': JSON.stringify({ webapp1: ['test1'], webapp2: ['test1'], webapp3: ['test2'] }),
    'proxies.mjs': `import { targetSpecific } from '@nodix/deployer';
export default ({ invDistribution }) => ({
  webapp1: { name: 'webapp1', type: 'webapp', dnsName: 'webapp1.local', port: 3001 },
  ...targetSpecific(invDistribution, (target, placed) => ({
    name: 'proxy-' + target.name, type: 'proxy', dependsOn: placed.filter((s) => s.type === 'webapp'),
  })),
});
`,
    'dist-proxies.json': JSON.stringify({
      webapp1: ['test1'],
      'proxy-test1': ['test1'],
      'proxy-test2': ['test2'],
    }),
    'broken.ts': 'export default { a: ;\n',
    'throws.mjs': "export default () => { throw new Error('no services today'); };\n",
    'bad-ports.json': JSON.stringify({ ports: { webapp1: 'x' } }),
    'notes.txt': 'not a model',
  });
  const manifest = (services: string, distribution = 'dist.json', ...more: string[]) => [
    'manifest',
    '-s',
    services,
    '-i',
    'infra.json',
    '-d',
    distribution,
    ...more,
  ];
  const cases: { args: string[]; code: number; stderr: RegExp | string; stdout?: RegExp }[] = [
    { args: [], code: 2, stderr: /^Usage: nodix <command> \[options\]\n/ },
    { args: ['bogus'], code: 2, stderr: "nodix: unknown command 'bogus' (see 'nodix --help')\n" },
    {
      args: ['gendist', '--bogus'],
      code: 2,
      stderr: "nodix: gendist: unknown option '--bogus' (see 'nodix gendist --help')\n",
    },
    {
      args: ['manifest', '-s'],
      code: 2,
      stderr:
        "nodix: manifest: option '-s, --services <value>' needs a value (see 'nodix manifest --help')\n",
    },
    {
      args: ['manifest', '-i', 'infra.json', '-d', 'dist.json'],
      code: 2,
      stderr: "nodix: manifest: missing -s/--services (see 'nodix manifest --help')\n",
    },
    {
      args: ['port-assign', '-s', 'services.json'],
      code: 2,
      stderr: "nodix: port-assign: missing -i/--infrastructure (see 'nodix port-assign --help')\n",
    },
    {
      args: ['gendist', '-s', 'three.json', '-i', 'infra.json'],
      code: 2,
      stderr: "nodix: gendist: missing -q/--qos (see 'nodix gendist --help')\n",
    },
    {
      args: [...manifest('services.json'), 'stray'],
      code: 2,
      stderr: "nodix: manifest: unexpected argument 'stray' (see 'nodix manifest --help')\n",
    },
    {
      args: [...manifest('services.json'), '--extra-params', '{'],
      code: 2,
      stderr: /^nodix: --extra-params: not valid JSON \(.*\)\n$/,
    },
    {
      args: [...manifest('services.json'), '--extra-params', '[1]'],
      code: 2,
      stderr: `nodix: --extra-params: must be a JSON object, e.g. '{"count": 20}'\n`,
    },
    {
      args: ['visualize', '-s', 'services.json', '-i', 'infra.json', '-d', 'dist.json', '--format', 'png'],
      code: 2,
      stderr: "nodix: visualize: --format must be dot or svg, not 'png'\n",
    },
    { args: manifest('missing.ts'), code: 2, stderr: 'nodix: missing.ts: no such file\n' },
    {
      args: manifest('notes.txt'),
      code: 2,
      stderr: "nodix: notes.txt: unsupported model file type '.txt'; use .ts, .mts, .js, .mjs or .json\n",
    },
    { args: manifest('broken.ts'), code: 2, stderr: /^nodix: broken\.ts: cannot be loaded: .+\n$/ },
    {
      args: manifest('throws.mjs'),
      code: 2,
      stderr: /^nodix: throws\.mjs: the model function threw: no services today \(at throws\.mjs:1:\d+\)\n$/,
    },
    {
      args: manifest('name-mismatch.json', 'dist-unknown-service.json'),
      code: 2,
      stderr: `nodix: name-mismatch.json: webapp1.name: is "webapp2", must equal its key 'webapp1'\n`,
    },
    {
      args: manifest('missing-dep.json'),
      code: 2,
      stderr: "nodix: missing-dep.json: a.dependsOn[0]: names 'ghost', which is not in the services model\n",
    },
    {
      args: manifest('cycle.json'),
      code: 2,
      stderr: 'nodix: cycle.json: a.dependsOn: dependency cycle: a -> b -> a\n',
    },
    {
      args: manifest('unknown-type.json'),
      code: 2,
      stderr:
        'nodix: unknown-type.json: a.type: unknown type "lambda"; known types: webapp, proxy, process\n',
    },
    {
      args: manifest('services.json', 'dist-unknown-service.json'),
      code: 2,
      stderr:
        'nodix: dist-unknown-service.json: webapp9: is not a service in the services model (services.json)\n',
    },
    {
      args: manifest('services.json', 'dist-unknown-target.json'),
      code: 2,
      stderr:
        "nodix: dist-unknown-target.json: webapp1[0]: target 'test3' is not in the infrastructure model (infra.json), which has: test1, test2\n",
    },
    {
      args: manifest('dup-dns.json', 'dist-test1.json'),
      code: 2,
      stderr:
        "nodix: dup-dns.json: webapp2.dnsName: 'webapp1.local' is also the dnsName of 'webapp1', and both are placed on target 'test1'\n",
    },
    {
      args: manifest('dup-port.json', 'dist-test1.json'),
      code: 2,
      stderr:
        "nodix: dup-port.json: webapp2.port: port 3001 is also used by 'webapp1', and both are placed on target 'test1'\n",
    },
    {
      args: ['gendist', '-s', 'three.json', '-i', 'infra.json', '-q', 'qos.mjs'],
      code: 2,
      stderr:
        "nodix: no room for 'webapp3': it needs 1 of 'capacity' (its 'weight') and no candidate has that much left: test1 has 0 left, test2 has 0 left\n",
    },
    {
      args: [
        'port-assign',
        '-s',
        'assigned.json',
        '-i',
        'infra.json',
        '-d',
        'dist-three.json',
        '--shared-range',
        '3000-3001',
      ],
      code: 2,
      stderr:
        "nodix: the shared port pool 3000-3001 is full: no port left for 'webapp3' (2 of 2 in use); widen it with --shared-range\n",
    },
    {
      args: [
        'port-assign',
        '-s',
        'assigned.json',
        '-i',
        'infra.json',
        '-d',
        'dist-three.json',
        '--shared-range',
        '3000',
      ],
      code: 2,
      stderr: "nodix: --shared-range: '3000' is not a port range; write it as MIN-MAX, e.g. 3000-4000\n",
    },
    {
      args: manifest('assigned.json', 'dist-three.json'),
      code: 2,
      stderr:
        "nodix: assigned.json: webapp1.port: no port assigned (portAssign: 'shared'); run 'nodix port-assign' and pass its output with -p\n",
    },
    {
      args: manifest('assigned.json', 'dist-three.json', '-p', 'bad-ports.json'),
      code: 2,
      stderr: 'nodix: bad-ports.json: ports.webapp1: must be a port number (1-65535), got "x"\n',
    },
    {
      args: manifest('proxies.mjs', 'dist-proxies.json'),
      code: 0,
      stderr:
        "[coordinator] warning: proxies.mjs: proxy-test2: target-specific service for 'test2' has no dependencies (nothing is placed there for it)\n",
      stdout: /"proxy-test1"/,
    },
    {
      args: manifest('services.json', 'dist.json', '-o', 'no/such/dir/manifest.json'),
      code: 1,
      stderr: /^nodix: no\/such\/dir\/manifest\.json: cannot be written: ENOENT.*\n$/,
    },
  ];
  const results = await inPairs(
    cases.map(
      ({ args }) =>
        () =>
          nodix(args, dir),
    ),
  );
  cases.forEach(({ args, code, stderr, stdout }, i) => {
    const result = results[i] as Result;
    const label = `nodix ${args.join(' ')}`;
    t.equal(result.code, code, `${label}: exit code`);
    if (typeof stderr === 'string') t.equal(result.stderr, stderr, `${label}: stderr`);
    else t.match(result.stderr, stderr, `${label}: stderr`);
    t.notMatch(result.stderr, /\n\s+at /, `${label}: no stack trace`);
    if (stdout) t.match(result.stdout, stdout, `${label}: stdout`);
  });
});

t.test('every command has --help', async (t) => {
  const names = ['gendist', 'port-assign', 'manifest', 'visualize'];
  const results = await inPairs([
    ...names.map((name) => () => nodix([name, '--help'], EXAMPLE)),
    () => nodix(['--help'], EXAMPLE),
  ]);
  names.forEach((name, i) => {
    t.equal(results[i]?.code, 0, `${name} --help exits 0`);
    t.match(results[i]?.stdout, new RegExp(`^Usage: nodix ${name} `), `${name} --help prints its usage`);
  });
  for (const name of names)
    t.match(results[names.length]?.stdout, `  ${name} `, `nodix --help lists ${name}`);
});

t.test('the example through the built bin: manifest (golden) and SVG', async (t) => {
  // The other golden outputs are checked in process (test/examples/virtualhosts.test.ts): cheaper than a Node
  // process with the TypeScript loader per output.
  const models = [
    '-s',
    'services.ts',
    '-i',
    'infrastructure.ts',
    '-d',
    'distribution.ts',
    '-p',
    'ports.json',
  ];
  const [manifest, svg] = await inPairs([
    () => nodix(['manifest', ...models], EXAMPLE),
    () => nodix(['visualize', ...models, '-o', '-', '--format', 'svg'], EXAMPLE),
  ]);
  t.equal(manifest?.code, 0, manifest?.stderr ?? '');
  await golden(t, 'manifest.json', manifest!.stdout);
  t.equal(svg?.code, 0, svg?.stderr ?? '');
  t.match(
    svg?.stdout,
    /^<\?xml[\s\S]*<svg[\s\S]*>webapp2\.local :3001<[\s\S]*<\/svg>\n?$/,
    'SVG rendered by Graphviz',
  );
});
