import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { NODIX, sshMachines, TARGETS } from './helpers/machines.js';
import { staticModelArgs } from './helpers/scenarios.js';
import type { Sshd } from './helpers/sshd.js';

// Issue 13, Performance: how many SSH connections the coordinator opens, counted where they arrive (each target's
// sshd logs one "Accepted publickey" per connection it lets in, LogLevel VERBOSE). A redeploy with nothing changed
// must open none (it contacts no agent, as over HTTP); a deploy or `nodix query` exactly one per target, however many
// requests they send (ControlMaster: every request is a session of that one connection).
t.setTimeout(300_000);

const m = await sshMachines();
t.teardown(() => m.destroy());
const state = ['--state-dir', join(m.work, 'coordinator')];
const models = [...staticModelArgs(m), '-p', 'ports.json'];

/** Lines matching `pattern` each target's sshd has logged so far. */
function counts(pattern: RegExp): Record<string, number> {
  return Object.fromEntries(
    TARGETS.map((target) => {
      const sshd = m.sshd.get(target) as Sshd;
      return [target, (sshd.log().match(pattern) ?? []).length];
    }),
  );
}

/** Connections each target's sshd has accepted so far. */
const logins = () => counts(/Accepted publickey for /g);

/** Sessions (remote commands) each target's sshd has started so far; forwarded channels are not sessions. */
const sessions = () => counts(/Starting session: /g);

/** `nodix query` over `infrastructure`, which must answer with every target's services; sessions before and after. */
async function queryCountingSessions(t: Test, infrastructure: string) {
  const before = sessions();
  const answer = await m.nodix(['query', '-i', infrastructure, '--json']);
  t.equal(answer.code, 0, `query${answer.code ? `: ${answer.stdout}${answer.stderr}` : ''}`);
  const { targets } = JSON.parse(answer.stdout) as { targets: Record<string, { services: unknown[] }> };
  for (const target of TARGETS)
    t.ok(targets[target]?.services.length, `${target} answered with its services`);
  await settledLogins();
  return { before, after: sessions() };
}

/** Processes whose command line mentions `text` (the coordinator's ssh master names its private directory). */
async function processesMentioning(text: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(text)) found.push(`${pid} ${cmdline.replaceAll('\0', ' ')}`);
  }
  return found;
}

/** The counts once sshd's log lines of a command that has exited have come through their pipes. */
async function settledLogins(): Promise<Record<string, number>> {
  let last = logins();
  for (;;) {
    await sleep(300);
    const now = logins();
    if (JSON.stringify(now) === JSON.stringify(last)) return now;
    last = now;
  }
}

for (const target of TARGETS) await m.startAgent(target);

await t.test('deploy the example over SSH', async (t) => {
  const ports = await m.nodix([
    'port-assign',
    ...staticModelArgs(m),
    '--shared-range',
    m.sharedRange,
    '-o',
    'ports.json',
  ]);
  t.equal(ports.code, 0, `port-assign${ports.code ? `: ${ports.stdout}${ports.stderr}` : ''}`);
  const before = await settledLogins();
  const sessionsBefore = sessions();
  const deployed = await m.nodix(['deploy', ...models, ...state]);
  t.equal(deployed.code, 0, `deploy${deployed.code ? `: ${deployed.stdout}${deployed.stderr}` : ''}`);
  const after = await settledLogins();
  const sessionsAfter = sessions();
  // Locks, one activation per service, unlocks: a dozen requests per target, all over one connection each, and no
  // session: the requests go through a socket the master forwards to the agentSocket, starting no process there.
  for (const target of TARGETS) {
    t.equal(after[target], (before[target] ?? 0) + 1, `one connection to ${target}`);
    t.equal(sessionsAfter[target], sessionsBefore[target], `no session on ${target}`);
  }
});

await t.test('a redeploy with nothing changed opens no SSH connection', async (t) => {
  const before = await settledLogins();
  const again = await m.nodix(['deploy', ...models, ...state]);
  t.equal(again.code, 0, `redeploy${again.code ? `: ${again.stdout}${again.stderr}` : ''}`);
  t.match(again.stdout, /nothing to activate or deactivate/);
  t.same(await settledLogins(), before, 'no target accepted a connection');
});

await t.test('nodix query opens one connection per target', async (t) => {
  const before = await settledLogins();
  const answer = await m.nodix(['query', '-i', m.infrastructure, '--json']);
  t.equal(answer.code, 0, `query${answer.code ? `: ${answer.stdout}${answer.stderr}` : ''}`);
  const after = await settledLogins();
  for (const target of TARGETS)
    t.equal(after[target], (before[target] ?? 0) + 1, `one connection to ${target}`);
});

await t.test(
  'a target naming no agentSocket: one session finds the socket, the requests are forwarded',
  async (t) => {
    // The agent's state dir instead of its socket, as `nodix agent connect` finds it from the packaged unit's default.
    const wrapperOf = (target: string) => join(m.work, `nodix-${target}`);
    const infrastructure = await m.infrastructureWith('by-state-dir.json', (target) => ({
      agentSocket: undefined,
      nodixCommand: wrapperOf(target),
    }));
    for (const target of TARGETS) {
      const wrapper = wrapperOf(target);
      await writeFile(
        wrapper,
        `#!/bin/sh\nexec ${process.execPath} ${NODIX} "$@" --state-dir ${m.agentStateDir(target)}\n`,
      );
      await chmod(wrapper, 0o755);
    }
    const { before, after } = await queryCountingSessions(t, infrastructure);
    for (const target of TARGETS)
      t.equal(after[target], (before[target] ?? 0) + 1, `one session on ${target}: agent connect --check`);
  },
);

await t.test(
  'a login that may not forward: the requests go over sessions running agent connect',
  async (t) => {
    // authorized_keys' no-port-forwarding forbids stream-local forwarding too, as a hardened sshd_config would.
    const keys = join(m.work, 'sshd-test1', 'authorized_keys');
    const original = await readFile(keys, 'utf8');
    t.teardown(() => writeFile(keys, original));
    await writeFile(keys, `no-port-forwarding ${original}`);
    const { before, after } = await queryCountingSessions(t, m.infrastructure);
    t.ok((after.test1 ?? 0) - (before.test1 ?? 0) >= 2, 'test1: the probe, then a session for the requests');
    t.equal(after.test2, before.test2, 'test2: forwarded, no session');
  },
);

await t.test('the forwarded socket and the master are gone once the command has exited', async (t) => {
  // Short: ssh's control socket inside must fit a Unix socket path (108 bytes).
  const tmp = await mkdtemp(join(tmpdir(), 'nx-'));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  const answer = await m.nodix(['query', '-i', m.infrastructure, '--json'], { env: { TMPDIR: tmp } });
  t.equal(answer.code, 0, `query${answer.code ? `: ${answer.stdout}${answer.stderr}` : ''}`);
  t.same(await readdir(tmp), [], 'no control directory, control socket or forwarded socket left');
  t.same(await processesMentioning(tmp), [], 'no ssh master left running');
});

await t.test('a slow SSH login does not use up the time of the first request', async (t) => {
  // The per-request limit is 10 s; this ssh takes 11 s to set up the master (as a slow ProxyJump or DNS would).
  const slow = join(m.work, 'slow-ssh');
  await writeFile(slow, `#!/bin/sh\ncase "$*" in *ControlMaster=yes*) sleep 11 ;; esac\nexec ssh "$@"\n`);
  await chmod(slow, 0o755);
  const answer = await m.nodix(['query', '-i', m.infrastructure, '--json'], { env: { NODIX_SSH: slow } });
  t.equal(answer.code, 0, `query${answer.code ? `: ${answer.stdout}${answer.stderr}` : ''}`);
});

await t.test('undeploy', async (t) => {
  const result = await m.nodix(['deploy', '--undeploy', ...state]);
  t.equal(result.code, 0, `undeploy${result.code ? `: ${result.stdout}${result.stderr}` : ''}`);
});
