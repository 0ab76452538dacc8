/**
 * Watches a routes file for changes. Writers replace the file by renaming a new one over it (atomically), which
 * gives the path a new inode: watching the file itself would keep watching the old, unlinked one. So the
 * directory is watched and every event in it schedules one check, debounced; the caller compares contents and
 * ignores events that left the file as it was (or touched other files in the directory).
 */
import { type FSWatcher, watch } from 'node:fs';
import { dirname } from 'node:path';

export interface FileWatcher {
  close(): void;
}

export function watchRoutesFile(
  file: string,
  onChange: () => void,
  onError: (err: Error) => void,
  debounceMs = 30,
): FileWatcher {
  let timer: NodeJS.Timeout | null = null;
  let watcher: FSWatcher | null = null;
  const schedule = () => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      onChange();
    }, debounceMs);
    timer.unref();
  };
  try {
    watcher = watch(dirname(file), { persistent: false }, schedule);
    watcher.on('error', onError);
  } catch (err) {
    onError(err as Error);
  }
  return {
    close() {
      if (timer !== null) clearTimeout(timer);
      watcher?.close();
      watcher = null;
    },
  };
}
