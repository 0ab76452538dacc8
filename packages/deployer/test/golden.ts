import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

const GOLDEN = fileURLToPath(new URL('./fixtures/golden/', import.meta.url));

/**
 * Compares `actual` with `test/fixtures/golden/<name>`. NODIX_UPDATE_GOLDEN=1 rewrites the file from the current
 * output instead (review the diff before committing it).
 */
export async function golden(t: Test, name: string, actual: string): Promise<void> {
  const path = `${GOLDEN}${name}`;
  if (process.env.NODIX_UPDATE_GOLDEN === '1') await writeFile(path, actual);
  t.equal(actual, await readFile(path, 'utf8'), `${name} matches the golden file`);
}

export const goldenPath = (name: string) => `${GOLDEN}${name}`;
