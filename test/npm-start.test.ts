import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { isPortFree } from '../packages/deployer/src/agent/readiness.js';
import { httpGet } from '../packages/deployer/test/agent/helpers.js';
import { ROOT } from './helpers/machines.js';
import { run, stopChild } from './helpers/run.js';

// `npm start`: two agents, the example deployed through them, curl lines, and on Ctrl-C (SIGINT) everything undeployed
// and stopped. It uses the fixed ports of infrastructure-local.ts and ports.json, so they must be free.
t.setTimeout(180_000);

const PORTS = [7411, 7412, 8081, 8082, 3000, 3001, 3002, 3003];

t.test('npm start deploys the example, serves it, and stops everything on Ctrl-C', async (t) => {
  for (const port of PORTS) {
    t.ok(await isPortFree('127.0.0.1', port), `port ${port} (used by npm start) is free`);
  }
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'examples', 'virtualhosts', 'start.ts')],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so that Ctrl-C can be sent as a terminal sends it: to the whole group.
      detached: true,
    },
  );
  t.teardown(() => stopChild(child, 'SIGKILL'));
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const running = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('[start] running')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`npm start exited (${code}) before running:\n${output}`)));
    setTimeout(() => reject(new Error(`npm start not running after 120 s:\n${output}`)), 120_000).unref();
  });
  await running;
  t.match(output, /curl -H 'Host: webapp2\.local' http:\/\/127\.0\.0\.1:8081/);
  t.match(output, /curl -H 'Host: webapp3\.local' http:\/\/127\.0\.0\.1:8082/);
  // node:http, not fetch: fetch does not let a request set its own Host header.
  t.equal(await httpGet(8081, '127.0.0.1', { host: 'webapp2.local' }), 'webapp2.local\n');
  // The admin URL of each proxy answers with its metrics.
  const metrics = [
    ...output.matchAll(/curl (http:\/\/127\.0\.0\.1:\d+\/metrics) +# (proxy-test\d)'s metrics/g),
  ];
  t.same(metrics.map((match) => match[2]).sort(), ['proxy-test1', 'proxy-test2'], 'one admin URL per proxy');
  for (const [, url] of metrics) {
    const answer = await fetch(url!);
    t.equal(answer.status, 200, `${url}`);
    t.match(await answer.text(), /^# HELP /m, `${url} is Prometheus text`);
  }
  // The query command works as printed, from anywhere (here: a directory outside the repository).
  const query = /^ {2}(\S+\/node_modules\/\.bin\/nodix query .*)$/m.exec(output)?.[1];
  t.ok(query, 'a nodix query command is printed');
  const queried = await run('/bin/sh', ['-c', query!], { cwd: tmpdir(), timeoutMs: 30_000 });
  t.equal(queried.code, 0, `${query}: ${queried.stderr}`);
  t.match(queried.stdout, /\[target: test1\] agent 127\.0\.0\.1:7411: \d+ service\(s\)/);
  t.match(queried.stdout, /webapp2\s+webapp\s+running/);

  const pids = [...output.matchAll(/started \S+ \(pid (\d+)/g)].map((match) => Number(match[1]));
  t.equal(pids.length, 6, 'six services started');

  // Ctrl-C in a terminal: SIGINT to every process of the foreground group, not to npm start alone.
  process.kill(-child.pid!, 'SIGINT');
  t.equal(await exited, 0, 'exits 0');
  t.match(output, /\[start\] stopped; nothing left running/);
  for (const pid of pids) {
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    t.notOk(alive, `service pid ${pid} is gone`);
  }
  for (const port of PORTS) t.ok(await isPortFree('127.0.0.1', port), `port ${port} is free again`);
});
