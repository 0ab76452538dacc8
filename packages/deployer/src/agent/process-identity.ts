import { readdir, readFile } from 'node:fs/promises';

/**
 * Who a PID is. A PID alone is not an identity: after a process dies the kernel hands its number to the next
 * process that asks. The kernel's start time of the process (clock ticks since boot, /proc/<pid>/stat field 22)
 * together with the boot id tells one process from any later one with the same PID, so an agent that restarts
 * adopts its services again and never signals a stranger.
 */
export interface ProcessIdentity {
  pid: number;
  /** /proc/<pid>/stat field 22, kept as a string: it is compared, never computed with. */
  startTime: string;
  bootId: string;
}

let cachedBootId: string | undefined;

export async function readBootId(): Promise<string> {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    } catch {
      // Without the file (not Linux, or /proc not mounted) identities are still compared by start time.
      cachedBootId = 'unknown';
    }
  }
  return cachedBootId;
}

interface ProcStat {
  state: string;
  /** Field 5: the process group. */
  pgrp: number;
  startTime: string;
}

/** Parses /proc/<pid>/stat. The command name (field 2) may hold spaces and parentheses, so split after the last ')'. */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text
    .slice(close + 2)
    .trim()
    .split(' ');
  // fields[0] is field 3 (state); field 5 (pgrp) is fields[2]; field 22 (starttime) is fields[19].
  const state = fields[0];
  const pgrp = Number(fields[2]);
  const startTime = fields[19];
  if (state === undefined || startTime === undefined || !/^\d+$/.test(startTime) || !Number.isInteger(pgrp)) {
    return undefined;
  }
  return { state, pgrp, startTime };
}

async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Whether a process in this /proc state has let go of everything it held. A zombie has, but only once its last
 * thread is gone: /proc/<pid>/stat shows the state of the main thread, which of a multi-threaded process (every node
 * process) turns Z first, while the other threads are still exiting and the process's files (its listening sockets
 * too) stay open until the last of them has. Then Threads: in /proc/<pid>/status is down to 1, the zombie itself.
 */
async function hasExited(pid: number, stat: ProcStat): Promise<boolean> {
  if (stat.state !== 'Z' && stat.state !== 'X') return false;
  try {
    const threads = /^Threads:\s*(\d+)/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1];
    return threads === undefined || Number(threads) <= 1;
  } catch {
    return true; // reaped meanwhile
  }
}

/**
 * The identity of a process that still runs, or undefined when no such process runs. A zombie counts as dead once
 * all its threads have exited, not before: a service stopped for a replacement must have released its port.
 */
export async function identify(pid: number): Promise<ProcessIdentity | undefined> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  const stat = await readProcStat(pid);
  if (!stat || (await hasExited(pid, stat))) return undefined;
  return { pid, startTime: stat.startTime, bootId: await readBootId() };
}

/**
 * The processes of process group `pgid` that still run, leader included (by the rule of `identify`). A service is
 * started in a group of its own and stopped by signalling the group: `/bin/sh -c 'node server.js'` forks node, and
 * the shell exiting does not mean its child has let go of the port.
 */
export async function processGroup(pgid: number): Promise<ProcessIdentity[]> {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    // No such group: the common case, answered without reading /proc.
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return [];
  }
  let entries: string[];
  try {
    entries = (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry));
  } catch {
    return [];
  }
  const bootId = await readBootId();
  const members = await Promise.all(
    entries.map(async (entry): Promise<ProcessIdentity | undefined> => {
      const pid = Number(entry);
      const stat = await readProcStat(pid);
      if (!stat || stat.pgrp !== pgid || (await hasExited(pid, stat))) return undefined;
      return { pid, startTime: stat.startTime, bootId };
    }),
  );
  return members.filter((member) => member !== undefined);
}

/** True when `expected` still runs: same PID, same start time, same boot. */
export async function isSameProcess(expected: ProcessIdentity): Promise<boolean> {
  const now = await identify(expected.pid);
  return now !== undefined && now.startTime === expected.startTime && now.bootId === expected.bootId;
}
