import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { writeFileAtomic } from '../../src/agent/atomic-file.js';
import { StateCorruptError } from '../../src/agent/errors.js';
import { acquireLock, checkMayChange, releaseLock } from '../../src/agent/lock.js';
import { identify, isSameProcess, parseProcStat } from '../../src/agent/process-identity.js';
import { probeHost } from '../../src/agent/readiness.js';
import { isLoopback } from '../../src/agent/server.js';
import { emptyState, loadState, StateStore } from '../../src/agent/state.js';
import { bearerToken, tokensEqual } from '../../src/agent/token.js';
import { mainThreadExitsFirst, tempDir, waitFor } from './helpers.js';

t.test(
  'parseProcStat reads state and start time past a command name with spaces and parentheses',
  async (t) => {
    const rest = 'S 1 1 1 0 -1 4194304 98 0 0 0 0 0 0 0 20 0 1 0 51231 3133440 411';
    t.same(parseProcStat(`42 (cat) ${rest}`), { state: 'S', pgrp: 1, startTime: '51231' });
    t.same(parseProcStat(`42 (a (b) c) ) ${rest}`), { state: 'S', pgrp: 1, startTime: '51231' });
    t.equal(parseProcStat('garbage'), undefined);
    t.equal(parseProcStat('1 (x) S 1 2'), undefined);
  },
);

t.test('identify tells this process from a reused PID', async (t) => {
  const me = await identify(process.pid);
  t.ok(me, 'this process has an identity');
  t.ok(await isSameProcess(me!));
  t.notOk(await isSameProcess({ ...me!, startTime: String(Number(me!.startTime) + 1) }), 'other start time');
  t.notOk(await isSameProcess({ ...me!, bootId: 'another-boot' }), 'other boot');
  t.equal(await identify(0), undefined);
  t.equal(await identify(2 ** 22 + 12345), undefined, 'no such pid');
});

t.test(
  'a zombie main thread is not a dead process while its other threads still run (and hold its sockets)',
  async (t) => {
    const [command, ...args] = mainThreadExitsFirst(1000);
    const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    t.teardown(() => child.kill('SIGKILL'));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await new Promise((resolve) => child.stdout.once('data', resolve));
    const pid = child.pid!;
    const before = await identify(pid);
    t.ok(before, 'running');
    child.kill('SIGTERM');
    await waitFor('the main thread to turn zombie', async () => {
      const stat = parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''));
      return stat?.state === 'Z' ? true : undefined;
    });
    t.ok(await isSameProcess(before!), 'still there: a thread of it runs, its files are still open');
    await exited;
    t.equal(await identify(pid), undefined, 'gone once the last thread has exited');
  },
);

t.test('tokens are compared whole, bearer header parsed strictly', async (t) => {
  t.ok(tokensEqual('abc', 'abc'));
  t.notOk(tokensEqual('abc', 'abd'));
  t.notOk(tokensEqual('abc', 'abcd'));
  t.notOk(tokensEqual('', 'abc'));
  t.equal(bearerToken('Bearer xyz'), 'xyz');
  t.equal(bearerToken('bearer xyz '), 'xyz');
  t.equal(bearerToken('Basic xyz'), undefined);
  t.equal(bearerToken('Bearer a b'), undefined);
  t.equal(bearerToken(undefined), undefined);
});

t.test('locks: one owner at a time, renewable, expiring', async (t) => {
  const a = acquireLock(null, 'alice', 1000, 0);
  t.same(a, { owner: 'alice', acquiredAt: 0, expiresAt: 1000 });
  t.same(acquireLock(a, 'alice', 1000, 500), { owner: 'alice', acquiredAt: 0, expiresAt: 1500 }, 'renewed');
  t.throws(() => acquireLock(a, 'bob', 1000, 500), { code: 'NODIX_ERR_LOCKED', message: /alice/ });
  t.same(acquireLock(a, 'bob', 1000, 1000).owner, 'bob', 'expired lock is free');
  t.throws(() => releaseLock(a, 'bob', 10), { code: 'NODIX_ERR_LOCKED' });
  t.equal(releaseLock(a, 'alice', 10), null);
  t.equal(releaseLock(null, 'bob', 10), null);
  t.doesNotThrow(() => checkMayChange(null, undefined, 0));
  t.doesNotThrow(() => checkMayChange(a, 'alice', 10));
  t.throws(() => checkMayChange(a, undefined, 10), { code: 'NODIX_ERR_LOCKED' });
  t.doesNotThrow(() => checkMayChange(a, undefined, 2000), 'expired');
});

t.test('addresses', async (t) => {
  t.equal(probeHost('0.0.0.0'), '127.0.0.1');
  t.equal(probeHost('::'), '::1');
  t.equal(probeHost('[::1]'), '::1');
  t.equal(probeHost('10.0.0.1'), '10.0.0.1');
  for (const host of ['127.0.0.1', '127.3.2.1', 'localhost', '::1', '[::1]']) t.ok(isLoopback(host), host);
  for (const host of ['0.0.0.0', '10.1.1.1', '::', 'test1']) t.notOk(isLoopback(host), host);
});

t.test('writeFileAtomic replaces the file and leaves no temporary file', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'f.json');
  await writeFileAtomic(path, 'one');
  await writeFileAtomic(path, 'two');
  t.equal(await readFile(path, 'utf8'), 'two');
  t.same(await readdir(dir), ['f.json']);
  await t.rejects(writeFileAtomic(join(dir, 'missing', 'f'), 'x'), { code: 'ENOENT' });
});

t.test('state: missing is empty, saves are ordered, corrupt is reported', async (t) => {
  const dir = await tempDir(t);
  t.same(await loadState(dir), emptyState());
  const store = await StateStore.open(dir);
  store.state.lock = { owner: 'x', acquiredAt: 1, expiresAt: 2 };
  const first = store.save();
  store.state.lock = null;
  await Promise.all([first, store.save()]);
  t.same(await loadState(dir), emptyState(), 'the last save wins');

  // Saves that overlap writes in every way (joining one that waits, queued behind one that runs): the file ends at
  // the last state saved, and every save settles.
  const saves: Promise<void>[] = [];
  for (let i = 1; i <= 30; i += 1) {
    store.state.lock = { owner: `owner ${i}`, acquiredAt: i, expiresAt: i + 1 };
    saves.push(store.save());
    if (i % 7 === 0) await saves.at(-1);
    else if (i % 3 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(saves);
  t.same((await loadState(dir)).lock, { owner: 'owner 30', acquiredAt: 30, expiresAt: 31 });
  store.state.lock = null;
  await store.save();

  const corrupt = join(dir, 'corrupt');
  await mkdir(corrupt);
  await writeFile(join(corrupt, 'state.json'), '{"version":1,"lock":null,"serv');
  await t.rejects(loadState(corrupt), StateCorruptError);
  await t.rejects(StateStore.open(corrupt), { code: 'NODIX_ERR_STATE_CORRUPT', message: /corrupt/ });
  t.equal(
    await readFile(join(corrupt, 'state.json'), 'utf8'),
    '{"version":1,"lock":null,"serv',
    'left as it was',
  );

  const cases: Array<[string, unknown, RegExp]> = [
    ['not an object', [], /not a JSON object/],
    ['wrong version', { version: 2, lock: null, services: {} }, /version/],
    ['bad lock', { version: 1, lock: { owner: 1 }, services: {} }, /lock/],
    ['bad services', { version: 1, lock: null, services: [] }, /services/],
    [
      'name differs from key',
      {
        version: 1,
        lock: null,
        services: {
          a: {
            instance: { name: 'b', type: 'process', target: 't', hash: 'h', config: {} },
            restarts: 0,
            activatedAt: 0,
          },
        },
      },
      /differs/,
    ],
    [
      'bad process',
      {
        version: 1,
        lock: null,
        services: {
          a: {
            instance: { name: 'a', type: 'process', target: 't', hash: 'h', config: {} },
            restarts: 0,
            activatedAt: 0,
            process: { pid: 'x' },
          },
        },
      },
      /process/,
    ],
  ];
  for (const [name, value, message] of cases) {
    await writeFile(join(corrupt, 'state.json'), JSON.stringify(value));
    await t.rejects(loadState(corrupt), { code: 'NODIX_ERR_STATE_CORRUPT', message }, name);
  }
});
