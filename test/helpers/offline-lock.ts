import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface LockEntry {
  version?: string;
  link?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

/**
 * A package-lock.json for a project that installs the given workspaces from their tarballs, holding the third-party
 * packages they need at run time exactly as the repository's lock pins them (same versions, same tarball URLs and
 * integrity hashes, same layout). With it `npm install --offline` takes every tarball from the npm cache that
 * `npm ci` filled. Without it npm would have to ask the registry for each package's metadata (which `npm ci` never
 * fetches, so the cache does not hold it) to resolve the version ranges: ENOTCACHED offline.
 */
export async function offlineLock(root: string, workspaces: string[], name: string): Promise<string> {
  const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const entries = lock.packages;
  /** Node's lookup: `from`'s own node_modules, then each enclosing one, up to the top. */
  const resolveFrom = (from: string, dependency: string): string | undefined => {
    let dir = from;
    for (;;) {
      const candidate = dir ? `${dir}/node_modules/${dependency}` : `node_modules/${dependency}`;
      if (entries[candidate] && !entries[candidate].link) return candidate;
      if (!dir) return undefined;
      const cut = dir.lastIndexOf('/node_modules/');
      dir = cut >= 0 ? dir.slice(0, cut) : '';
    }
  };
  const picked: Record<string, LockEntry> = {};
  const queue: Array<[string, string]> = [];
  // The workspaces themselves come from their tarballs.
  const isOwn = (dependency: string) => dependency.startsWith('@nodix/');
  for (const workspace of workspaces) {
    for (const dependency of Object.keys(entries[workspace]?.dependencies ?? {})) {
      if (!isOwn(dependency)) queue.push([workspace, dependency]);
    }
  }
  while (queue.length > 0) {
    const [from, dependency] = queue.shift() as [string, string];
    // A workspace's dependencies are hoisted to the top of the repository, where this project has them too.
    const path = resolveFrom(from.startsWith('node_modules/') ? from : '', dependency);
    if (path === undefined) {
      if (entries[from]?.dependencies?.[dependency] !== undefined) {
        throw new Error(`${dependency} (needed by ${from || 'the packages'}) is not in package-lock.json`);
      }
      continue; // an optional peer that is not installed
    }
    if (picked[path]) continue;
    const entry = entries[path] as LockEntry;
    picked[path] = entry;
    for (const next of Object.keys({
      ...entry.dependencies,
      ...entry.optionalDependencies,
      ...entry.peerDependencies,
    })) {
      queue.push([path, next]);
    }
  }
  return `${JSON.stringify({ name, lockfileVersion: 3, requires: true, packages: { '': { name }, ...picked } }, null, 2)}\n`;
}
