import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { run, startUntil, stopChild } from '../../../../test/helpers/run.js';
import { identify } from '../../src/agent/process-identity.js';
import { createAgent } from '../../src/agent/server.js';
import { AGENT_LOCK_FILE, lockStateDir } from '../../src/agent/state-dir.js';
import { tempDir } from './helpers.js';

/** The agent's state directory: made with one clear line when it cannot be, and held by one agent at a time. */

const SOURCE_BIN = fileURLToPath(new URL('../../src/bin.ts', import.meta.url));
const nodix = (args: string[], timeoutMs = 20_000) =>
  run(process.execPath, ['--import', 'tsx', SOURCE_BIN, ...args], { timeoutMs });

t.test('a state directory that cannot be made: one line, exit 2, no stack, no spinning', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'file'), 'not a directory\n');
  const cases: Array<[string, RegExp]> = [
    [join(dir, 'file', 'state'), /state directory .*file\/state: .*file is not a directory/],
    [join(dir, 'file', 'deeper', 'state'), /file is not a directory/],
    [join(dir, 'file'), /file is not a directory/],
    // mkdir under /proc answers ENOENT although /proc exists: Node's recursive mkdir retries that forever.
    [
      '/proc/nodix-test-state',
      /cannot create \/proc\/nodix-test-state: \/proc does not allow creating directories/,
    ],
  ];
  for (const [stateDir, message] of cases) {
    const result = await nodix(['agent', '--state-dir', stateDir, '--insecure', '--listen', '127.0.0.1:0']);
    t.equal(result.code, 2, `${stateDir}: exit 2 (got ${result.code}: ${result.stderr})`);
    t.match(result.stderr, message, stateDir);
    t.equal(result.stderr.trim().split('\n').length, 1, `${stateDir}: one line`);
    t.notMatch(result.stderr, /internal error|\n\s+at /, `${stateDir}: no stack`);
  }
});

t.test('a second agent on the same state directory is refused and told who holds it', async (t) => {
  const stateDir = join(await tempDir(t), 'state');
  const args = ['agent', '--state-dir', stateDir, '--insecure', '--listen', '127.0.0.1:0'];
  const first = await startUntil(process.execPath, ['--import', 'tsx', SOURCE_BIN, ...args], /listening on/);
  t.teardown(() => stopChild(first.child, 'SIGKILL'));
  const url = /listening on http:\/\/(\S+)/.exec(first.output())?.[1];

  const second = await nodix(args);
  t.equal(second.code, 2, second.stderr);
  t.match(
    second.stderr,
    new RegExp(
      `state directory ${stateDir}: in use by the agent with pid ${first.child.pid} listening on ${url}`,
    ),
  );
  t.equal(second.stderr.trim().split('\n').length, 1, 'one line');
  const lock = JSON.parse(await readFile(join(stateDir, AGENT_LOCK_FILE), 'utf8'));
  t.equal(lock.pid, first.child.pid, 'the lock file names the first agent');
  t.equal(lock.listen, url, 'and where it listens');

  // A lock whose holder died without releasing it (SIGKILL) is stale: the next agent takes it over.
  await stopChild(first.child, 'SIGKILL');
  const third = await startUntil(process.execPath, ['--import', 'tsx', SOURCE_BIN, ...args], /listening on/);
  t.teardown(() => stopChild(third.child, 'SIGKILL'));
  const taken = JSON.parse(await readFile(join(stateDir, AGENT_LOCK_FILE), 'utf8'));
  t.equal(taken.pid, third.child.pid, 'the stale lock was taken over');

  // A clean stop releases it.
  await stopChild(third.child, 'SIGTERM');
  await t.rejects(readFile(join(stateDir, AGENT_LOCK_FILE)), { code: 'ENOENT' }, 'released on stop');
});

t.test('lock file: a reused PID is not the holder; an agent in this process holds it', async (t) => {
  const stateDir = await tempDir(t);
  const self = await identify(process.pid);
  // This process's PID with another start time: the agent that wrote it is gone and its PID was reused.
  await writeFile(
    join(stateDir, AGENT_LOCK_FILE),
    JSON.stringify({ ...self, startTime: '1', listen: '127.0.0.1:1', since: 'then' }),
  );
  const lock = await lockStateDir(stateDir, '127.0.0.1:7411');
  t.equal(JSON.parse(await readFile(lock.path, 'utf8')).listen, '127.0.0.1:7411', 'taken over');
  await t.rejects(lockStateDir(stateDir, '127.0.0.1:7412'), {
    code: 'NODIX_ERR_AGENT_CONFIG',
    exitCode: 2,
    message: /in use by the agent with pid \d+ listening on 127\.0\.0\.1:7411/,
  });
  await lock.release();

  // A damaged lock file proves no holder: stale.
  await writeFile(join(stateDir, AGENT_LOCK_FILE), '');
  const again = await lockStateDir(stateDir, '127.0.0.1:7413');
  await again.release();

  // createAgent releases the lock when it fails after taking it (here: a corrupt state file).
  const broken = join(stateDir, 'broken');
  await mkdir(broken);
  await writeFile(join(broken, 'state.json'), '{');
  await t.rejects(
    createAgent({ host: '127.0.0.1', port: 0, stateDir: broken, insecure: true, log: () => {} }),
    {
      code: 'NODIX_ERR_STATE_CORRUPT',
    },
  );
  await t.rejects(readFile(join(broken, AGENT_LOCK_FILE)), { code: 'ENOENT' }, 'not left behind');
});
