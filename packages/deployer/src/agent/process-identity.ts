import { readFile } from 'node:fs/promises';

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
  // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
  const state = fields[0];
  const startTime = fields[19];
  if (state === undefined || startTime === undefined || !/^\d+$/.test(startTime)) return undefined;
  return { state, startTime };
}

async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The identity of a live process, or undefined when no such process runs (a zombie counts as dead). */
export async function identify(pid: number): Promise<ProcessIdentity | undefined> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  const stat = await readProcStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return undefined;
  return { pid, startTime: stat.startTime, bootId: await readBootId() };
}

/** True when `expected` still runs: same PID, same start time, same boot. */
export async function isSameProcess(expected: ProcessIdentity): Promise<boolean> {
  const now = await identify(expected.pid);
  return now !== undefined && now.startTime === expected.startTime && now.bootId === expected.bootId;
}
