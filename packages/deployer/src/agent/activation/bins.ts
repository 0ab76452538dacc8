import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';

const require = createRequire(import.meta.url);

/**
 * The path of a workspace package's bin (`@nodix/webapp` → its `nodix-webapp`), resolved through the package's own
 * package.json so it works from a clone, an install, and `npm start` alike. Run it with `process.execPath`.
 */
export function resolvePackageBin(packageName: string, binName: string): string {
  // Once per agent: every start of every service asks, and the answer cannot change under a running agent.
  const key = `${packageName}\0${binName}`;
  let path = resolved.get(key);
  if (path === undefined) {
    path = resolveUncached(packageName, binName);
    resolved.set(key, path);
  }
  return path;
}

const resolved = new Map<string, string>();

function resolveUncached(packageName: string, binName: string): string {
  const manifestPath = require.resolve(`${packageName}/package.json`);
  const manifest = require(manifestPath) as { bin?: string | Record<string, string> };
  const bin = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin?.[binName];
  if (bin === undefined) throw new Error(`${packageName} has no bin '${binName}'`);
  return resolve(dirname(manifestPath), bin);
}
