/**
 * The life cycle of a routes file after its first load, the same for a single proxy (lifecycle/create-proxy.ts)
 * and a cluster's primary (lifecycle/cluster.ts): reloads run one at a time, in order, each reading the file when
 * its turn comes; a watched change that left the text as last read is neither parsed nor counted (load.ts
 * `createRoutesFileReader`); every parsed reload is counted as applied or rejected; a rejected table is logged
 * once and the last good one keeps serving; the file is watched on request. What "apply" means is the caller's:
 * swap the table in (createProxy) or send it to every worker (cluster).
 *
 * Files the table depends on (its certificates and keys) are watched with it: certbot-style renewals replace them
 * without touching the table, and a change reloads the table as SIGHUP does (which re-reads them).
 */
import { RouteTableError } from '../errors.js';
import { createRoutesFileReader } from './load.js';
import type { ValidatedRouteTable } from './validate.js';
import { type FileWatcher, watchRoutesFile } from './watch.js';

export interface ReloaderOptions {
  file: string;
  /** The text of the first load (what a watched change is compared with). */
  initialText: string;
  /** Puts a validated table into service; throws when it could not (the reload counts as rejected). */
  apply(table: ValidatedRouteTable): Promise<void> | void;
  /** Virtual hosts serving now (the answer to a reload that changed nothing). */
  hosts(): number;
  recordReload(ok: boolean): void;
  log(line: string): void;
  /** How log lines start: `[proxy]`, `[proxy primary]`. */
  logPrefix: string;
  /** The table of the first load: its dependencies are watched from the start. */
  initialTable?: ValidatedRouteTable;
  /** Files a table reads besides itself (certificate and key files), watched while the table serves. */
  dependencies?(table: ValidatedRouteTable): string[];
}

/** Debounce of dependency watches: a renewal writes the certificate and the key one after the other. */
const DEPENDENCY_DEBOUNCE_MS = 300;

export interface ReloadResult {
  /** Virtual hosts in the table now serving. */
  hosts: number;
  /** Where it came from: the file path or the label given to setRouteTable. */
  source: string;
  /** False when a watched file event found the content unchanged (nothing was swapped). */
  changed: boolean;
}

export interface Reloader {
  /** Reads and applies the file (`onlyIfChanged`: a watched change). Rejects with why it was not applied. */
  reload(onlyIfChanged: boolean): Promise<ReloadResult>;
  /** Reloads on every change of the file, until `close`. */
  watch(): void;
  close(): void;
}

export function createReloader(options: ReloaderOptions): Reloader {
  const { file, log, logPrefix } = options;
  const read = createRoutesFileReader(file, options.initialText);
  let chain: Promise<unknown> = Promise.resolve();
  let watcher: FileWatcher | null = null;
  let watching = false;
  const dependencyWatchers = new Map<string, FileWatcher>();
  let dependencies: string[] =
    options.initialTable === undefined ? [] : (options.dependencies?.(options.initialTable) ?? []);
  /** Watches exactly `dependencies` (when watching): new files added, dropped ones closed. */
  const syncDependencyWatchers = (): void => {
    const wanted = new Set(watching ? dependencies : []);
    for (const [dependency, w] of dependencyWatchers) {
      if (!wanted.has(dependency)) {
        w.close();
        dependencyWatchers.delete(dependency);
      }
    }
    for (const dependency of wanted) {
      if (dependencyWatchers.has(dependency)) continue;
      dependencyWatchers.set(
        dependency,
        watchRoutesFile(
          dependency,
          () => {
            log(`${logPrefix} ${dependency} changed: reloading the route table`);
            reloader.reload(false).catch(() => {});
          },
          (err) =>
            log(
              `${logPrefix} cannot watch ${dependency}: ${err.message} (SIGHUP and POST /reload still work)`,
            ),
          DEPENDENCY_DEBOUNCE_MS,
        ),
      );
    }
  };

  const run = async (onlyIfChanged: boolean): Promise<ReloadResult> => {
    let loaded: Awaited<ReturnType<typeof read>>;
    try {
      loaded = await read(onlyIfChanged);
      if (loaded === null) return { hosts: options.hosts(), source: file, changed: false };
      await options.apply(loaded.table);
      if (options.dependencies !== undefined) {
        dependencies = options.dependencies(loaded.table);
        syncDependencyWatchers();
      }
    } catch (err) {
      // A watcher may fire while a writer is half-way (a non-atomic writer): the next event retries.
      options.recordReload(false);
      if (err instanceof RouteTableError)
        log(`${logPrefix} route table rejected, the last good one keeps serving: ${err.message}`);
      throw err;
    }
    options.recordReload(true);
    return { hosts: loaded.table.hosts.length, source: file, changed: true };
  };

  const reloader: Reloader = {
    reload(onlyIfChanged) {
      const result = chain.then(
        () => run(onlyIfChanged),
        () => run(onlyIfChanged),
      );
      chain = result.catch(() => {});
      return result;
    },
    watch() {
      if (watcher !== null) return;
      watching = true;
      syncDependencyWatchers();
      watcher = watchRoutesFile(
        file,
        () => {
          this.reload(true).catch(() => {});
        },
        (err) =>
          log(`${logPrefix} cannot watch ${file}: ${err.message} (SIGHUP and POST /reload still work)`),
      );
    },
    close() {
      watcher?.close();
      watcher = null;
      watching = false;
      syncDependencyWatchers();
    },
  };
  return reloader;
}
