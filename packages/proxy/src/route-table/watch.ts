/**
 * Watches one routes file for changes, by its name.
 *
 * Writers (editors, the deployer's agent) replace the file by renaming a new one over it: the path gets a new
 * inode, and an fs.watch() on the file would go on watching the old, unlinked one. So the inotify watch is on the
 * directory, and only events that name the file count (a rename into place names it; so do in-place writes).
 * Events for the directory's other files (the proxy's own log next to the routes file, editors' swap files) are
 * dropped before anything is read: a bad routes file next to the proxy's log used to be rejected again for every
 * log line the rejection itself wrote, ~30 times a second.
 *
 * Then, debounced, the file is stat()ed (following a symlink, so a swapped link target counts as a change) and
 * `onChange` runs only when its identity (inode, size, mtime, ctime in ns) differs from the last one seen: a
 * `touch`, or an event whose name could not be told (platforms that give no file name), costs one stat, not a
 * read and a parse. The caller still compares the text (route-table/load.ts: createRoutesFileReader), so a
 * rewrite with the same content is neither applied nor counted again.
 */
import { type BigIntStats, type FSWatcher, statSync, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

export interface FileWatcher {
  close(): void;
}

/** What identifies one version of the file; `missing` while it does not exist (between an unlink and a rename). */
function identityOf(s: BigIntStats): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

function missing(err: unknown): string {
  return `missing (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
}

async function identity(file: string): Promise<string> {
  try {
    return identityOf(await stat(file, { bigint: true }));
  } catch (err) {
    return missing(err);
  }
}

/** The same, now: the baseline must be taken before the caller returns, or a write right after would be missed. */
function identityNow(file: string): string {
  try {
    return identityOf(statSync(file, { bigint: true }));
  } catch (err) {
    return missing(err);
  }
}

export function watchRoutesFile(
  file: string,
  onChange: () => void,
  onError: (err: Error) => void,
  debounceMs = 30,
): FileWatcher {
  const name = basename(file);
  let timer: NodeJS.Timeout | null = null;
  let watcher: FSWatcher | null = null;
  let closed = false;
  // The version loaded when watching starts: a change is relative to it.
  let last: Promise<string> = Promise.resolve(identityNow(file));
  const check = () => {
    timer = null;
    // One check at a time, in order: each compares with the identity the one before it left.
    last = last.then(async (previous) => {
      const current = await identity(file);
      if (current !== previous && !closed) onChange();
      return current;
    });
  };
  const onEvent = (_event: string, filename: string | Buffer | null) => {
    if (filename !== null && filename.toString() !== name) return;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(check, debounceMs);
    timer.unref();
  };
  try {
    watcher = watch(dirname(file), { persistent: false }, onEvent);
    watcher.on('error', onError);
  } catch (err) {
    onError(err as Error);
  }
  return {
    close() {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      watcher?.close();
      watcher = null;
    },
  };
}
