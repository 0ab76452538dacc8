// How long a lost machine's web apps are away: `nodix self-adapt` on three network namespaces (test1..test3 and a
// client, as test/e2e-self-adapt.test.ts), six web apps two per target; test3's link goes down and a poller on the
// client measures until webapp3 and webapp6 answer again through the proxy of a machine they moved to. With
// --rebalance they go back to test3 between runs. Prints each run, the median, where the time went (detection:
// link down -> target-down event; deploy: target-down -> adapted event) and the machine's load.
//
//   npm run build && node --import tsx bench/self-adapt-recovery.ts [--runs 5] [--interval 0.5]
//     [--probe-timeout 300] [--down-after 3] [--up-after 2]
//
// Needs root and iproute2 (network namespaces), like the multi-machine tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { EXAMPLE, NODIX, netnsMachines } from '../test/helpers/machines.js';
import { run, stopChild } from '../test/helpers/run.js';
import { median } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    interval: { type: 'string', default: '0.5' },
    'probe-timeout': { type: 'string', default: '300' },
    'down-after': { type: 'string', default: '3' },
    'up-after': { type: 'string', default: '2' },
  },
  strict: true,
});
const runs = Number(values.runs);
const settings = [
  '--interval',
  values.interval,
  '--probe-timeout',
  values['probe-timeout'],
  '--down-after',
  values['down-after'],
  '--up-after',
  values['up-after'],
];
const MOVED = ['webapp3', 'webapp6'];
const SURVIVORS = ['test1', 'test2'];

// Runs on the client: asks every surviving proxy for every moved web app until each has answered once with its
// name, then prints the wall-clock time. Bounded: gives up after 60 s.
const POLLER = `
const http = require('node:http');
const [webapps, proxies] = [process.argv[1].split(','), process.argv[2].split(',')];
const left = new Set(webapps);
const deadline = Date.now() + 60000;
const ask = (proxy, webapp) => new Promise((resolve) => {
  const req = http.get({ host: proxy, port: 80, path: '/', headers: { host: webapp + '.local' }, agent: false, timeout: 500 }, (res) => {
    let body = '';
    res.on('data', (c) => (body += c));
    res.on('end', () => resolve(res.statusCode === 200 && body === webapp + '.local\\n'));
  });
  req.on('timeout', () => req.destroy());
  req.on('error', () => resolve(false));
});
(async () => {
  while (left.size && Date.now() < deadline) {
    for (const webapp of [...left]) for (const proxy of proxies) if (await ask(proxy, webapp)) left.delete(webapp);
    if (left.size) await new Promise((r) => setTimeout(r, 10));
  }
  console.log(left.size ? 'TIMEOUT' : String(Date.now()));
})();
`;

const m = await netnsMachines({
  targets: ['test1', 'test2', 'test3'],
  infrastructure: join(EXAMPLE, 'infrastructure-three.ts'),
});
let adapt: ChildProcess | undefined;
try {
  const state = ['--state-dir', join(m.work, 'coordinator'), '--token-file', m.tokenFile];
  const models = [
    '-s',
    join(EXAMPLE, 'services-dynamic.ts'),
    '-i',
    m.infrastructure,
    '--extra-params',
    '{"count": 6}',
  ];
  for (const target of ['test1', 'test2', 'test3']) await m.startAgent(target);
  for (const args of [
    ['gendist', ...models, '-q', join(EXAMPLE, 'qos-spread.ts'), '-o', 'dist.json'],
    ['port-assign', ...models, '-d', 'dist.json', '-o', 'ports.json'],
    ['deploy', ...models, '-d', 'dist.json', '-p', 'ports.json', ...state],
  ]) {
    const result = await m.nodix(args);
    if (result.code !== 0) throw new Error(`nodix ${args[0]} failed:\n${result.stdout}${result.stderr}`);
  }

  const [command, argv] = m.exec('client', process.execPath, [
    NODIX,
    'self-adapt',
    ...models,
    '-q',
    join(EXAMPLE, 'qos-spread.ts'),
    '-p',
    'ports.json',
    ...state,
    '--json',
    '--rebalance',
    ...settings,
  ]);
  adapt = spawn(command, argv, { cwd: m.work, stdio: ['ignore', 'pipe', 'ignore'] });
  // biome-ignore lint/suspicious/noExplicitAny: self-adapt's JSON lines, read field by field
  const events: Array<Record<string, any>> = [];
  const wakers = new Set<() => void>();
  createInterface({ input: adapt.stdout! }).on('line', (line) => {
    events.push(JSON.parse(line));
    for (const wake of wakers) wake();
  });
  // biome-ignore lint/suspicious/noExplicitAny: as above
  const next = (match: (e: Record<string, any>) => boolean, from: number) =>
    // biome-ignore lint/suspicious/noExplicitAny: as above
    new Promise<Record<string, any>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('self-adapt did not answer in 60 s')), 60_000);
      const check = () => {
        const found = events.slice(from).find(match);
        if (found) {
          clearTimeout(timer);
          wakers.delete(check);
          resolve(found);
        }
      };
      wakers.add(check);
      check();
    });
  await next((e) => e.event === 'decided', 0);

  const load = [loadavg()[0]!];
  const rows: Array<{ recovery: number; detection: number; deploy: number }> = [];
  for (let i = 1; i <= runs; i++) {
    const from = events.length;
    await m.setLink('test3', false);
    const lostAt = Date.now();
    const [pc, pargs] = m.exec('client', process.execPath, [
      '-e',
      POLLER,
      MOVED.join(','),
      SURVIVORS.join(','),
    ]);
    const polled = await run(pc, pargs, { timeoutMs: 90_000 });
    const doneAt = Number(polled.stdout.trim());
    if (!Number.isFinite(doneAt))
      throw new Error(`run ${i}: the moved web apps did not answer: ${polled.stdout}`);
    const down = await next((e) => e.event === 'target-down', from);
    const adapted = await next((e) => e.event === 'adapted' || e.event === 'adapt-failed', from);
    if (adapted.event !== 'adapted') throw new Error(`run ${i}: ${JSON.stringify(adapted)}`);
    const row = {
      recovery: doneAt - lostAt,
      detection: Date.parse(down.time) - lostAt,
      deploy: Date.parse(adapted.time) - Date.parse(down.time),
    };
    rows.push(row);
    process.stdout.write(
      `run ${i}: moved web apps answer again ${row.recovery} ms after the link went down ` +
        `(detection ${row.detection} ms, re-placement + deploy ${row.deploy} ms, generation ${adapted.generation})\n`,
    );
    // Back to the start: test3 returns and, with --rebalance, gets webapp3 and webapp6 again.
    const back = events.length;
    await m.setLink('test3', true);
    await next((e) => e.event === 'adapted' && e.trigger.returned.includes('test3'), back);
  }
  load.push(loadavg()[0]!);
  const med = (key: 'recovery' | 'detection' | 'deploy') => median(rows.map((row) => row[key]));
  process.stdout.write(
    `median of ${runs}: ${med('recovery')} ms to every moved web app answering (detection ${med('detection')} ms, ` +
      `re-placement + deploy ${med('deploy')} ms); probe every ${Number(values.interval) * 1000} ms, timeout ` +
      `${values['probe-timeout']} ms, gone after ${values['down-after']} failed probes; ` +
      `load average ${load.map((l) => l.toFixed(2)).join(' -> ')} on ${availableParallelism()} CPU(s)\n`,
  );
} finally {
  if (adapt) await stopChild(adapt);
  await m.destroy();
}
