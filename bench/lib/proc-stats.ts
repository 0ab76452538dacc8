/**
 * CPU time and memory of a server's process tree, read from /proc (Linux). CPU is counted for the whole tree
 * (nginx's master and worker, a cluster's workers) so one-process and multi-process servers compare fairly.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clockTicks: number | undefined;

/** Kernel clock ticks per second (USER_HZ) in which /proc/<pid>/stat counts CPU time; 100 almost everywhere. */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks =
        Number.parseInt(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim(), 10) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

interface StatFields {
  ppid: number;
  /** utime + stime + cutime + cstime, in ticks. */
  cpuTicks: number;
}

/**
 * Fields of /proc/<pid>/stat. The command name (field 2) may contain spaces and parentheses, so parsing starts
 * after the last ')'. Children's times (cutime, cstime) are included: a worker that exits during the load moves
 * its CPU time into its parent's counters when reaped, and the total must not drop.
 */
export function parseStat(text: string): StatFields | undefined {
  const end = text.lastIndexOf(')');
  if (end < 0) return undefined;
  // After ')': state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17); index 0 here is field 3.
  const fields = text.slice(end + 2).split(' ');
  const num = (field: number) => Number(fields[field - 3]);
  const ppid = num(4);
  const cpuTicks = num(14) + num(15) + num(16) + num(17);
  if (!Number.isFinite(ppid) || !Number.isFinite(cpuTicks)) return undefined;
  return { ppid, cpuTicks };
}

function readStat(pid: number): StatFields | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The root and all its live descendants, found through every process's parent PID. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [root];
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (!stat) continue;
    const list = children.get(stat.ppid);
    if (list) list.push(pid);
    else children.set(stat.ppid, [pid]);
  }
  const tree: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** CPU time of the trees under these roots, in microseconds. */
export function treeCpuMicros(roots: readonly number[]): number {
  let ticks = 0;
  for (const root of roots) for (const pid of processTree(root)) ticks += readStat(pid)?.cpuTicks ?? 0;
  return (ticks * 1e6) / ticksPerSecond();
}

/** A `kB` field of /proc/<pid>/status (VmRSS, VmHWM) in bytes; 0 when the process is gone. */
export function statusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const match = new RegExp(`^${field}:\\s*(\\d+) kB`, 'm').exec(
      readFileSync(`/proc/${pid}/status`, 'utf8'),
    );
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Summed VmRSS of the trees under these roots, bytes (the tree is listed afresh: a worker may have been forked). */
export function treeRssBytes(roots: readonly number[]): number {
  let sum = 0;
  for (const root of roots) for (const pid of processTree(root)) sum += statusBytes(pid, 'VmRSS');
  return sum;
}

/** Open file descriptors of the trees under these roots (sockets included); 0 for a process that is gone. */
export function treeFdCount(roots: readonly number[]): number {
  let count = 0;
  for (const root of roots) {
    for (const pid of processTree(root)) {
      try {
        count += readdirSync(`/proc/${pid}/fd`).length;
      } catch {
        // Gone, or not ours to read.
      }
    }
  }
  return count;
}

/**
 * Connections a server holds on its listening port 127.0.0.1:`port`, from the text of /proc/net/tcp: every
 * socket bound there except the listener (state 0A) and TIME_WAIT (06, owned by the kernel, not the process).
 */
export function countServerConnections(procNetTcp: string, port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let count = 0;
  for (const line of procNetTcp.split('\n')) {
    const fields = line.trim().split(/\s+/);
    // sl local_address rem_address st ...
    if (fields[1] === local && fields[3] !== '0A' && fields[3] !== '06') count++;
  }
  return count;
}

/** `countServerConnections` on this network namespace's live table. */
export function serverConnections(port: number): number {
  try {
    return countServerConnections(readFileSync('/proc/net/tcp', 'utf8'), port);
  } catch {
    return Number.NaN;
  }
}

export interface MemorySampler {
  /** Stop sampling; returns the peak of the tree's summed RSS and the largest VmHWM of any one process in it. */
  stop(): { treeRssPeakBytes: number; processHwmMaxBytes: number };
}

/**
 * Sample the trees' summed RSS every `intervalMs` during a load. The tree is listed once at the start (scanning
 * all of /proc every sample would cost the load generator's core more than the sample is worth) and again at
 * the end for the high-water marks, so a worker forked mid-load still counts there.
 */
export function sampleMemory(roots: readonly number[], intervalMs = 100): MemorySampler {
  const pids = roots.flatMap((root) => processTree(root));
  let treeRssPeakBytes = 0;
  const sample = () => {
    let sum = 0;
    for (const pid of pids) sum += statusBytes(pid, 'VmRSS');
    if (sum > treeRssPeakBytes) treeRssPeakBytes = sum;
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      let processHwmMaxBytes = 0;
      for (const root of roots) {
        for (const pid of processTree(root))
          processHwmMaxBytes = Math.max(processHwmMaxBytes, statusBytes(pid, 'VmHWM'));
      }
      return { treeRssPeakBytes, processHwmMaxBytes };
    },
  };
}
