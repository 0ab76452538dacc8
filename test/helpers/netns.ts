import { randomBytes } from 'node:crypto';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { run } from './run.js';

/**
 * Several machines on one computer: one Linux network namespace per machine, each with an `eth0` on one private /24
 * joined by a bridge that lives in a namespace of its own, no default route anywhere, and `/etc/netns/<ns>/hosts`
 * so that machine names resolve inside every namespace (`ip netns exec` mounts it over /etc/hosts). Names carry a
 * unique suffix, so parallel runs and leftovers of a killed run never clash. Needs root and iproute2; when they are
 * missing, `createNetwork` throws a message that says so (the tests fail; they are never skipped silently).
 */
export interface Machine {
  name: string;
  namespace: string;
  address: string;
}

export interface Network {
  id: string;
  subnet: string;
  machines: Map<string, Machine>;
  /** `ip netns exec <ns> command args...` as an argv. */
  exec(machine: string, command: string, args: string[]): [string, string[]];
  /** Brings a machine's only link (eth0) down or up: to the others, the machine vanishes or comes back. */
  setLink(machine: string, up: boolean): Promise<void>;
  destroy(): Promise<void>;
}

async function ip(args: string[]): Promise<void> {
  const result = await run('ip', args, { timeoutMs: 15_000 });
  if (result.code !== 0)
    throw new Error(`ip ${args.join(' ')} failed (${result.code}): ${result.stderr.trim()}`);
}

/** Throws a clear error when network namespaces cannot be used here. */
export async function checkNetnsUsable(): Promise<void> {
  const probe = `nxprobe-${process.pid}-${randomBytes(2).toString('hex')}`;
  let result: Awaited<ReturnType<typeof run>>;
  try {
    result = await run('ip', ['netns', 'add', probe], { timeoutMs: 15_000 });
  } catch (error) {
    throw new Error(
      `network namespaces are not usable: cannot run 'ip' (${(error as Error).message}); install iproute2 (apt-get install iproute2)`,
    );
  }
  if (result.code !== 0) {
    throw new Error(
      `network namespaces are not usable: 'ip netns add' failed (${result.stderr.trim()}); the multi-machine tests need root and iproute2`,
    );
  }
  await ip(['netns', 'del', probe]);
}

export async function createNetwork(names: string[]): Promise<Network> {
  await checkNetnsUsable();
  const id = `nx${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
  const third = 1 + (randomBytes(1)[0]! % 250);
  const subnet = `10.213.${third}.0/24`;
  const bridge = `${id}-br`;
  const machines = new Map<string, Machine>(
    names.map((name, index) => [
      name,
      { name, namespace: `${id}-${name}`, address: `10.213.${third}.${index + 1}` },
    ]),
  );
  const created: string[] = [];
  const destroy = async () => {
    for (const namespace of [...created].reverse()) {
      // Whatever still runs inside (agents, services) was started by this test: end it, by PID, before the namespace goes.
      const pids = await run('ip', ['netns', 'pids', namespace], { timeoutMs: 15_000 }).catch(
        () => undefined,
      );
      for (const pid of (pids?.stdout ?? '').split(/\s+/).filter(Boolean).map(Number)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await run('ip', ['netns', 'del', namespace], { timeoutMs: 15_000 }).catch(() => undefined);
      await rm(`/etc/netns/${namespace}`, { recursive: true, force: true });
    }
    await rmdir('/etc/netns').catch(() => {});
  };
  try {
    await ip(['netns', 'add', bridge]);
    created.push(bridge);
    await ip(['-n', bridge, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', bridge, 'link', 'set', 'br0', 'up']);
    const hosts = [
      '127.0.0.1 localhost',
      '::1 localhost',
      ...[...machines.values()].map((m) => `${m.address} ${m.name}`),
    ];
    for (const machine of machines.values()) {
      await ip(['netns', 'add', machine.namespace]);
      created.push(machine.namespace);
      const port = `v-${machine.name}`.slice(0, 15);
      await ip([
        '-n',
        bridge,
        'link',
        'add',
        port,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        machine.namespace,
      ]);
      await ip(['-n', bridge, 'link', 'set', port, 'master', 'br0', 'up']);
      await ip(['-n', machine.namespace, 'addr', 'add', `${machine.address}/24`, 'dev', 'eth0']);
      await ip(['-n', machine.namespace, 'link', 'set', 'eth0', 'up']);
      await ip(['-n', machine.namespace, 'link', 'set', 'lo', 'up']);
      await mkdir(`/etc/netns/${machine.namespace}`, { recursive: true });
      await writeFile(`/etc/netns/${machine.namespace}/hosts`, `${hosts.join('\n')}\n`);
    }
  } catch (error) {
    await destroy();
    throw error;
  }
  return {
    id,
    subnet,
    machines,
    exec(machine, command, args) {
      const found = machines.get(machine);
      if (!found) throw new Error(`no machine ${machine}`);
      return ['ip', ['netns', 'exec', found.namespace, command, ...args]];
    },
    async setLink(machine, up) {
      const found = machines.get(machine);
      if (!found) throw new Error(`no machine ${machine}`);
      await ip(['-n', found.namespace, 'link', 'set', 'eth0', up ? 'up' : 'down']);
    },
    destroy,
  };
}
