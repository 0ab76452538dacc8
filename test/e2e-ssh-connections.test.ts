import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { sshMachines, TARGETS } from './helpers/machines.js';
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

/** Connections each target's sshd has accepted so far. */
function logins(): Record<string, number> {
  return Object.fromEntries(
    TARGETS.map((target) => {
      const sshd = m.sshd.get(target) as Sshd;
      return [target, (sshd.log().match(/Accepted publickey for /g) ?? []).length];
    }),
  );
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
  const deployed = await m.nodix(['deploy', ...models, ...state]);
  t.equal(deployed.code, 0, `deploy${deployed.code ? `: ${deployed.stdout}${deployed.stderr}` : ''}`);
  const after = await settledLogins();
  // Locks, one activation per service, unlocks: a dozen requests per target, all over one connection each.
  for (const target of TARGETS)
    t.equal(after[target], (before[target] ?? 0) + 1, `one connection to ${target}`);
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

await t.test('undeploy', async (t) => {
  const result = await m.nodix(['deploy', '--undeploy', ...state]);
  t.equal(result.code, 0, `undeploy${result.code ? `: ${result.stdout}${result.stderr}` : ''}`);
});
