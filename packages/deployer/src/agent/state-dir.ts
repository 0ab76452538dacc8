import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, parse } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { AgentConfigError } from './errors.js';
import { identify, isSameProcess, type ProcessIdentity } from './process-identity.js';

/**
 * The agent's state directory: made safely, and held by one agent at a time.
 *
 * Made one component at a time rather than with `mkdir -p`: Node's recursive mkdir turns ENOTDIR (a component is a
 * regular file) into a bare system error, and under /proc, where mkdir answers ENOENT although the parent exists, it
 * retries forever at full CPU. Every way it can fail is one line naming the path.
 *
 * Held by a lock file, `<state-dir>/agent.lock`, that names the holder (pid, its start time and boot, listen address).
 * Two agents on one directory would each adopt and restart the same services. The file is made whole beside the
 * lock and then hard-linked to its name: link(2) fails with EEXIST like open(O_CREAT|O_EXCL) does, and a reader never
 * sees a half-written holder. A lock whose holder no longer runs (same PID, start time and boot) is stale and taken
 * over; a PID reused by another process does not count as the holder.
 */
export const AGENT_LOCK_FILE = 'agent.lock';

export interface LockFileContent extends ProcessIdentity {
  /** The API's address, `host:port`, as far as it is known (the requested one until the agent listens). */
  listen: string;
  /** ISO time the agent took the lock. */
  since: string;
}

function configError(path: string, problem: string): AgentConfigError {
  return new AgentConfigError(`agent: state directory ${path}: ${problem}`);
}

/** Creates `path` (mode 0700) and any missing parent; an existing directory is used as it is. */
export async function makeStateDir(path: string): Promise<void> {
  const missing: string[] = [];
  let existing = path;
  for (;;) {
    const info = await lstat(existing).catch((error: NodeJS.ErrnoException) => {
      // ENOTDIR: a component above is a file, which the loop reaches and names.
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
      throw configError(path, `cannot look at ${existing} (${error.code ?? error.message})`);
    });
    if (info) {
      // A symbolic link to a directory is fine: follow it once to see what it points to.
      const target = info.isSymbolicLink() ? await stat(existing).catch(() => undefined) : info;
      if (!target?.isDirectory()) throw configError(path, `${existing} is not a directory`);
      break;
    }
    missing.unshift(existing);
    const parent = dirname(existing);
    if (parent === existing || existing === parse(existing).root) break;
    existing = parent;
  }
  for (const dir of missing) {
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && (await stat(dir).catch(() => undefined))?.isDirectory()) continue;
      const why =
        code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'EROFS'
            ? 'read-only file system'
            : code === 'ENOENT'
              ? `${dirname(dir)} does not allow creating directories`
              : 'cannot be created';
      throw configError(path, `cannot create ${dir}: ${why} (${code})`);
    }
  }
}

export function describeLockHolder(holder: LockFileContent): string {
  return `the agent with pid ${holder.pid} listening on ${holder.listen} (since ${holder.since})`;
}

async function readHolder(path: string): Promise<{ text: string; holder?: LockFileContent } | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const value = JSON.parse(text) as Partial<LockFileContent>;
    if (
      typeof value.pid === 'number' &&
      typeof value.startTime === 'string' &&
      typeof value.bootId === 'string'
    )
      return { text, holder: value as LockFileContent };
  } catch {
    // Not ours or damaged: nobody can be shown to hold it, so it is stale.
  }
  return { text };
}

export interface StateDirLock {
  readonly path: string;
  /** Records the address the API really listens on (after binding port 0). */
  setListen(listen: string): Promise<void>;
  /** Removes the lock file if it is still ours. */
  release(): Promise<void>;
}

/**
 * Takes the state directory's lock for this process, or throws an AgentConfigError naming who holds it. A stale lock
 * is moved aside and checked to be the one that was found stale before it is deleted, so two agents taking over the
 * same stale lock at once cannot both win.
 */
export async function lockStateDir(stateDir: string, listen: string): Promise<StateDirLock> {
  const path = join(stateDir, AGENT_LOCK_FILE);
  const self = await identify(process.pid);
  if (!self) throw new Error('cannot read this process identity from /proc');
  let content: LockFileContent = { ...self, listen, since: new Date().toISOString() };
  const write = async (): Promise<boolean> => {
    const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(temp, `${JSON.stringify(content)}\n`, { mode: 0o600 });
    try {
      await link(temp, path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    } finally {
      await rm(temp, { force: true });
    }
  };
  const tryWrite = async (): Promise<boolean> => {
    try {
      return await write();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw configError(stateDir, `cannot write ${path} (${code ?? (error as Error).message})`);
    }
  };
  for (let attempt = 0; attempt < 5; attempt += 1) {
    if (await tryWrite()) {
      return {
        path,
        async setListen(address) {
          content = { ...content, listen: address };
          await writeFileAtomic(path, `${JSON.stringify(content)}\n`, 0o600);
        },
        async release() {
          const found = await readHolder(path).catch(() => undefined);
          if (found?.holder?.pid === self.pid && found.holder.startTime === self.startTime) {
            await rm(path, { force: true });
          }
        },
      };
    }
    const found = await readHolder(path);
    if (found === undefined) continue; // released meanwhile: try again
    if (found.holder && (await isSameProcess(found.holder))) {
      throw configError(
        stateDir,
        `in use by ${describeLockHolder(found.holder)}; stop that agent or give another --state-dir`,
      );
    }
    // Stale. Move it aside, then make sure what was moved is what was judged stale: another agent may have taken
    // over the same stale lock between our read and our rename, and then it is that agent's live lock we moved.
    const aside = `${path}.${randomBytes(6).toString('hex')}.stale`;
    try {
      await rename(path, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw configError(
        stateDir,
        `cannot remove the stale ${path} (${(error as NodeJS.ErrnoException).code})`,
      );
    }
    const moved = await readFile(aside, 'utf8').catch(() => undefined);
    if (moved !== found.text) {
      // Put the live lock back unless yet another lock exists by now; either way, the next round reads the holder.
      await link(aside, path).catch(() => {});
    }
    await rm(aside, { force: true });
  }
  throw configError(stateDir, `could not take ${path}: other agents keep taking it`);
}
