import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { EXAMPLE, type Machines, NODIX, netnsMachines } from './helpers/machines.js';
import { stopChild } from './helpers/run.js';

// Dynamic Disnix on three machines (network namespaces test1..test3 and a client): `nodix self-adapt` watches the
// deployment; a machine whose link goes down has its web apps moved to the others, one that comes back gets
// nothing back (or its share, with --rebalance), a single failed probe moves nothing, and a qos model that throws
// leaves the last good generation serving, as does a deploy that fails. Never skipped: without root or iproute2 it fails saying so.
t.setTimeout(300_000);

const TARGETS = ['test1', 'test2', 'test3'];
const machines = await netnsMachines({
  targets: TARGETS,
  infrastructure: join(EXAMPLE, 'infrastructure-three.ts'),
});
const started: ChildProcess[] = [];
t.teardown(async () => {
  for (const child of started) await stopChild(child, 'SIGKILL');
  await machines.destroy();
});
const m: Machines = machines;
const state = ['--state-dir', join(m.work, 'coordinator'), '--token-file', m.tokenFile];
const six = ['--extra-params', '{"count": 6}'];
const brokenFlag = join(m.work, 'qos-broken');
const qos = join(m.work, 'qos-switch.mts');
// The example's qos model, made to throw while a flag file exists (checked each time the model runs).
await writeFile(
  qos,
  [
    "import { existsSync } from 'node:fs';",
    `import base from ${JSON.stringify(join(EXAMPLE, 'qos-spread.ts'))};`,
    'export default (args: Parameters<typeof base>[0]) => {',
    `  if (existsSync(${JSON.stringify(brokenFlag)})) throw new Error('qos model broken on purpose');`,
    '  return base(args);',
    '};',
    '',
  ].join('\n'),
);
const models = ['-s', join(EXAMPLE, 'services-dynamic.ts'), '-i', m.infrastructure, ...six];

// biome-ignore lint/suspicious/noExplicitAny: events are checked field by field, as `nodix self-adapt --help` documents them
type Event = Record<string, any>;

interface SelfAdapt {
  child: ChildProcess;
  events: Event[];
  /** Resolves with the first event (from index `from` on) that matches; rejects after `timeoutMs`. */
  next(match: (event: Event) => boolean, what: string, from?: number, timeoutMs?: number): Promise<Event>;
  output(): string;
}

function startSelfAdapt(extra: string[]): SelfAdapt {
  const [command, argv] = m.exec('client', process.execPath, [
    NODIX,
    'self-adapt',
    ...models,
    '-q',
    qos,
    '-p',
    'ports.json',
    ...state,
    '--json',
    '--interval',
    '0.5',
    '--probe-timeout',
    '300',
    '--down-after',
    '4',
    '--up-after',
    '2',
    ...extra,
  ]);
  const child = spawn(command, argv, { cwd: m.work, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Event[] = [];
  let text = '';
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    text += `${line}\n`;
    try {
      events.push(JSON.parse(line));
    } catch {
      events.push({ event: 'not-json', line });
    }
    for (const wake of waiters) wake();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  started.push(child);
  return {
    child,
    events,
    output: () => text,
    next(match, what, from = 0, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.slice(from).find(match);
          if (!found) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${what} from self-adapt in ${timeoutMs} ms; its output:\n${text}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

interface ServiceView {
  name: string;
  pid: number;
}

/** What runs on each reachable target (query exits 1 while a target is cut off; the others are still listed). */
async function running(): Promise<Record<string, Record<string, number>>> {
  const result = await m.nodix(['query', '-i', m.infrastructure, '--json', '--token-file', m.tokenFile]);
  let parsed: { targets: Record<string, { services?: ServiceView[] }> };
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    throw new Error(`nodix query printed no JSON (${result.code}):\n${result.stdout}${result.stderr}`);
  }
  const view: Record<string, Record<string, number>> = {};
  for (const [target, answer] of Object.entries(parsed.targets)) {
    if (answer.services) view[target] = Object.fromEntries(answer.services.map((s) => [s.name, s.pid]));
  }
  return view;
}

async function generations(): Promise<{ list: number[]; current: number }> {
  const result = await m.nodix(['deploy', '--list-generations', ...state.slice(0, 2)]);
  const lines = result.stdout.split('\n').filter((line) => /^\s*\d+\s/.test(line));
  return {
    list: lines.map((line) => Number(line.trim().split(/\s+/)[0])),
    current: Number(
      lines
        .find((line) => line.includes('(current)'))
        ?.trim()
        .split(/\s+/)[0],
    ),
  };
}

/** The proxy of `target` answers for `webapp`, within a bounded time (a reload is confirmed before deploy ends). */
async function answersThrough(target: string, webapp: string): Promise<{ status: number; body: string }> {
  let answer = { status: 0, body: '' };
  for (let attempt = 0; attempt < 20; attempt++) {
    answer = await m.curl(target, `${webapp}.local`);
    if (answer.status === 200) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return answer;
}

const webappsOn = (view: Record<string, number> | undefined) =>
  Object.keys(view ?? {})
    .filter((name) => name.startsWith('webapp'))
    .sort();

for (const target of TARGETS) await m.startAgent(target);

await t.test('deploy six web apps over three targets, two each', async (t) => {
  for (const args of [
    ['gendist', ...models, '-q', join(EXAMPLE, 'qos-spread.ts'), '-o', 'dist.json'],
    ['port-assign', ...models, '-d', 'dist.json', '--shared-range', m.sharedRange, '-o', 'ports.json'],
    ['deploy', ...models, '-d', 'dist.json', '-p', 'ports.json', ...state],
  ]) {
    const result = await m.nodix(args);
    t.equal(result.code, 0, `nodix ${args[0]}${result.code ? `:\n${result.stdout}${result.stderr}` : ''}`);
  }
  const view = await running();
  t.same(webappsOn(view.test3), ['webapp3', 'webapp6']);
  t.same(await answersThrough('test3', 'webapp3'), { status: 200, body: 'webapp3.local\n' });
});

let adapt: SelfAdapt;
let before: Record<string, Record<string, number>> = {};

await t.test('one failed probe moves nothing', async (t) => {
  before = await running();
  adapt = startSelfAdapt([]);
  t.same((await adapt.next((e) => e.event === 'decided', 'first decision')).live, TARGETS);
  await m.setLink('test3', false);
  const failed = await adapt.next(
    (e) => e.event === 'probe' && e.target === 'test3' && !e.ok,
    'failed probe',
  );
  await m.setLink('test3', true);
  t.equal(failed.streak, 1, 'the first failure counts 1');
  t.equal(failed.threshold, 4);
  const from = adapt.events.indexOf(failed);
  await adapt.next((e) => e.event === 'probe' && e.target === 'test3' && e.ok, 'good probe again', from);
  t.same(
    adapt.events.filter((e) => !['probe', 'start', 'decided'].includes(e.event)),
    [],
    'no target went down, no decision was taken',
  );
  t.same((await generations()).list, [1], 'no generation made');
});

let afterLoss: Record<string, Record<string, number>> = {};
let moved: Array<{ service: string; from: string[]; to: string[] }> = [];
await t.test(
  'test3 goes away: its web apps answer through the proxies of the machines they moved to',
  async (t) => {
    // First the deploy fails: the ports of test3's web apps are taken on the other targets.
    const { ports } = JSON.parse(await readFile(join(m.work, 'ports.json'), 'utf8')) as {
      ports: Record<string, number>;
    };
    const releases: Array<() => Promise<void>> = [];
    for (const target of ['test1', 'test2']) {
      for (const service of ['webapp3', 'webapp6'])
        releases.push(await m.occupy(target, ports[service] as number));
    }
    const from = adapt.events.length;
    await m.setLink('test3', false);
    const down = await adapt.next((e) => e.event === 'target-down', 'target-down', from);
    t.equal(down.target, 'test3');
    const failed = await adapt.next(
      (e) => e.event === 'adapted' || e.event === 'adapt-failed',
      'decision',
      from,
    );
    t.equal(failed.event, 'adapt-failed', 'the deploy fails');
    t.match(failed.error, {
      code: 'NODIX_ERR_DEPLOY',
      message: /already in use; rolled back to generation 1/,
    });
    t.same(await generations(), { list: [1], current: 1 }, 'generation 1 stays current');
    t.same(await answersThrough('test1', 'webapp1'), { status: 200, body: 'webapp1.local\n' }, 'and serves');
    for (const release of releases) await release();

    // A round that started before the ports were free may still fail; the next one must succeed.
    const decision = await adapt.next(
      (e) => e.event === 'adapted',
      'adapted after the ports are free',
      adapt.events.indexOf(failed) + 1,
    );
    t.same(decision.trigger, { lost: ['test3'], returned: [], initial: false });
    moved = decision.moved;
    t.same(
      moved.map((move) => [move.service, move.from]),
      [
        ['webapp3', ['test3']],
        ['webapp6', ['test3']],
      ],
      'exactly the web apps of test3 moved',
    );
    t.same(decision.unplaced, []);
    t.equal(decision.generation, 2);
    for (const { service, to } of moved) {
      t.equal(to.length, 1);
      t.same(
        await answersThrough(to[0] as string, service),
        { status: 200, body: `${service}.local\n` },
        `${service} at ${to[0]}`,
      );
    }
    afterLoss = await running();
    for (const target of ['test1', 'test2']) {
      for (const [service, pid] of Object.entries(before[target] ?? {})) {
        t.equal(afterLoss[target]?.[service], pid, `${service} on ${target} kept its process`);
      }
    }
    t.same(await generations(), { list: [1, 2], current: 2 }, 'exactly one new generation');
  },
);

await t.test(
  'test3 comes back while the qos model throws: generation 2 keeps serving, self-adapt keeps running',
  async (t) => {
    await writeFile(brokenFlag, '');
    const from = adapt.events.length;
    await m.setLink('test3', true);
    await adapt.next((e) => e.event === 'target-up' && e.target === 'test3', 'target-up', from);
    const failure = await adapt.next((e) => e.event === 'adapt-failed', 'adapt-failed', from);
    t.match(failure.error.message, /qos-switch\.mts: the model function threw: qos model broken on purpose/);
    t.equal(failure.generation, 2);
    t.equal(adapt.child.exitCode, null, 'still running');
    t.same(await generations(), { list: [1, 2], current: 2 });
    for (const { service, to } of moved) {
      t.same(
        await answersThrough(to[0] as string, service),
        { status: 200, body: `${service}.local\n` },
        `${service} still serves`,
      );
    }
  },
);

await t.test(
  'once the model works again, the return is handled: nothing moves back, test3 is cleaned up',
  async (t) => {
    const from = adapt.events.length;
    await rm(brokenFlag);
    const decision = await adapt.next((e) => e.event === 'adapted', 'adapted', from);
    t.same(decision.trigger, { lost: [], returned: ['test3'], initial: false });
    t.same(decision.moved, [], 'nothing moves back without --rebalance');
    t.same(
      decision.cleaned,
      { test3: ['webapp3', 'webapp6'] },
      'the copies left running on test3 are stopped',
    );
    t.equal(decision.generation, 3);
    const view = await running();
    t.same(webappsOn(view.test3), [], 'test3 runs no web app');
    for (const target of ['test1', 'test2']) {
      t.same(webappsOn(view[target]), webappsOn(afterLoss[target]), `${target} keeps its web apps`);
      for (const service of webappsOn(afterLoss[target])) {
        t.equal(
          view[target]?.[service],
          afterLoss[target]?.[service],
          `${service} on ${target} not restarted`,
        );
      }
    }
    t.equal((await m.curl('test3', 'webapp3.local')).status, 404, "test3's proxy no longer routes webapp3");
  },
);

await t.test('SIGTERM stops it between rounds, exit 0', async (t) => {
  const exited = new Promise<number | null>((resolve) => adapt.child.once('exit', (code) => resolve(code)));
  adapt.child.kill('SIGTERM');
  t.equal(await exited, 0);
  t.match(adapt.events.at(-1), { event: 'stop', reason: 'signal' });
});

await t.test('with --rebalance, a target that comes back gets its share again', async (t) => {
  const rebalancing = startSelfAdapt(['--rebalance']);
  await rebalancing.next((e) => e.event === 'decided', 'first decision');
  await m.setLink('test3', false);
  const lost = await rebalancing.next((e) => e.event === 'adapted', 'adapted (loss)');
  t.same(lost.moved, [], 'test3 held no web app: nothing to move');
  t.equal(lost.changed, false, 'and nothing to deploy');
  const from = rebalancing.events.length;
  await m.setLink('test3', true);
  const back = await rebalancing.next((e) => e.event === 'adapted', 'adapted (return)', from);
  t.equal(back.rebalanced, true);
  t.same(
    back.moved.map((move: { service: string; to: string[] }) => [move.service, move.to]),
    [
      ['webapp3', ['test3']],
      ['webapp6', ['test3']],
    ],
  );
  t.equal(back.generation, 4);
  t.same(await answersThrough('test3', 'webapp3'), { status: 200, body: 'webapp3.local\n' });
  t.same(await answersThrough('test3', 'webapp6'), { status: 200, body: 'webapp6.local\n' });
  await stopChild(rebalancing.child);
});
