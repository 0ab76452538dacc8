/**
 * CPU pinning: with two or more usable cores the load generator gets one core and every server another, so the
 * load generator never steals the server's cycles (on a shared core the measured server would look slower the
 * faster the load generator runs). With one core nothing is pinned and the report says so.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Pinning {
  /** Prefix for a load-generator command line (`taskset -c 0`), empty when not pinned. */
  loadPrefix: string[];
  /** Prefix for a server command line, empty when not pinned. */
  serverPrefix: string[];
  loadCpu: number | undefined;
  serverCpu: number | undefined;
  /** One line for the report: what was pinned where, or why nothing was. */
  description: string;
}

/** `0-1,4,6-7` (the kernel's list format) → [0, 1, 4, 6, 7]. */
export function parseCpuList(list: string): number[] {
  const cpus: number[] = [];
  for (const part of list.trim().split(',')) {
    if (part === '') continue;
    const [from, to] = part.split('-').map((n) => Number.parseInt(n, 10));
    if (from === undefined || Number.isNaN(from)) continue;
    const last = to === undefined || Number.isNaN(to) ? from : to;
    for (let cpu = from; cpu <= last; cpu++) cpus.push(cpu);
  }
  return cpus;
}

/** The CPUs this process may run on (its affinity, not the machine's count: containers often restrict it). */
function allowedCpus(): number[] {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const line = /^Cpus_allowed_list:\s*(.+)$/m.exec(status);
    if (line?.[1]) return parseCpuList(line[1]);
  } catch {
    // Not Linux: no /proc, no taskset either; fall through to "not pinned".
  }
  return [];
}

function hasTaskset(): boolean {
  return spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
}

export function detectPinning(): Pinning {
  const cpus = allowedCpus();
  const unpinned = (why: string): Pinning => ({
    loadPrefix: [],
    serverPrefix: [],
    loadCpu: undefined,
    serverCpu: undefined,
    description: `not pinned: ${why}; load generator and servers share the CPU, figures are only indicative`,
  });
  if (cpus.length < 2) return unpinned(`${cpus.length || 'unknown number of'} usable core(s)`);
  if (!hasTaskset()) return unpinned('taskset not found (Debian: util-linux)');
  const loadCpu = cpus[0]!;
  const serverCpu = cpus[1]!;
  return {
    loadPrefix: ['taskset', '-c', String(loadCpu)],
    serverPrefix: ['taskset', '-c', String(serverCpu)],
    loadCpu,
    serverCpu,
    description: `pinned with taskset: load generator (and this harness) on CPU ${loadCpu}, servers on CPU ${serverCpu}`,
  };
}

/**
 * Move the harness itself to the load generator's core: it samples /proc and rewrites route files during load,
 * and that work must not land on the servers' core.
 */
export function pinSelf(pinning: Pinning): void {
  if (pinning.loadCpu === undefined) return;
  // `-a`: every thread of this process (V8's and libuv's threads already exist), not just the main one.
  spawnSync('taskset', ['-a', '-pc', String(pinning.loadCpu), String(process.pid)], { stdio: 'ignore' });
}
