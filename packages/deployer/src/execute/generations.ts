import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../agent/atomic-file.js';
import { NodixError } from '../errors.js';
import type { AgentAddress, Manifest } from '../plan/types.js';
import { EMPTY_MANIFEST } from './transition.js';

/**
 * The coordinator's profile, Disnix's generations: every successful deployment is recorded as generation N (its
 * whole manifest), and `current` names the one that runs. A deployment that started changing targets but did not
 * finish cleanly (its rollback failed, or the coordinator died) leaves `pending.json`, so the next run compares
 * with what the agents really run instead of trusting the record.
 *
 *   <state-dir>/generations/<N>.json   { generation, createdAt, description, manifest }
 *   <state-dir>/current.json           { generation }
 *   <state-dir>/pending.json           { from, to, startedAt, owner }
 */
export interface Generation {
  generation: number;
  createdAt: string;
  /** What made it: the command line of the deploy. */
  description: string;
  manifest: Manifest;
}

export interface Pending {
  /** The generation that was current when the unfinished deployment started (0: nothing). */
  from: number;
  /** Targets the unfinished deployment may have touched, with their agents' addresses. */
  targets: Record<string, AgentAddress>;
  startedAt: string;
  owner: string;
  /** Where the unfinished deployment ran (this machine's name and its PID), so a later run can tell it is gone. */
  hostname?: string;
  pid?: number;
}

export class GenerationError extends NodixError {
  constructor(message: string, exitCode: 1 | 2 = 2) {
    super(message, { code: 'NODIX_ERR_GENERATION', exitCode });
  }
}

async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new GenerationError(`${path} is corrupt (${(error as Error).message})`, 1);
  }
}

export class GenerationStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  get #generationsDir(): string {
    return join(this.dir, 'generations');
  }

  #file(generation: number): string {
    return join(this.#generationsDir, `${generation}.json`);
  }

  /** Generation numbers on disk, ascending. */
  async list(): Promise<number[]> {
    let names: string[];
    try {
      names = await readdir(this.#generationsDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return names
      .map((name) => /^(\d+)\.json$/.exec(name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** The current generation number; 0 when nothing was ever deployed. */
  async current(): Promise<number> {
    return (await readJson<{ generation: number }>(join(this.dir, 'current.json')))?.generation ?? 0;
  }

  async read(generation: number): Promise<Generation> {
    if (generation === 0) {
      return { generation: 0, createdAt: '', description: 'nothing deployed', manifest: EMPTY_MANIFEST };
    }
    const found = await readJson<Generation>(this.#file(generation));
    if (!found) throw new GenerationError(`generation ${generation} does not exist (see --list-generations)`);
    return found;
  }

  async currentManifest(): Promise<Manifest> {
    return (await this.read(await this.current())).manifest;
  }

  /** Writes generation max+1 and makes it current. */
  async record(manifest: Manifest, description: string): Promise<number> {
    await mkdir(this.#generationsDir, { recursive: true });
    const existing = await this.list();
    const generation = (existing.at(-1) ?? 0) + 1;
    const record: Generation = { generation, createdAt: new Date().toISOString(), description, manifest };
    await writeFileAtomic(this.#file(generation), `${JSON.stringify(record)}\n`);
    await this.setCurrent(generation);
    return generation;
  }

  async setCurrent(generation: number): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(join(this.dir, 'current.json'), `${JSON.stringify({ generation })}\n`);
  }

  /** Deletes the given generations; the current one is refused. Returns what was deleted. */
  async delete(generations: number[]): Promise<number[]> {
    const current = await this.current();
    if (generations.includes(current)) {
      throw new GenerationError(`generation ${current} is the current one and cannot be deleted`);
    }
    const existing = new Set(await this.list());
    const deleted: number[] = [];
    for (const generation of generations) {
      if (!existing.has(generation)) continue;
      await rm(this.#file(generation), { force: true });
      deleted.push(generation);
    }
    return deleted;
  }

  /** Every generation but the current one and the `keep` newest before it. */
  async old(keep = 0): Promise<number[]> {
    const current = await this.current();
    const others = (await this.list()).filter((generation) => generation !== current);
    return keep > 0 ? others.slice(0, Math.max(others.length - keep, 0)) : others;
  }

  async pending(): Promise<Pending | undefined> {
    return readJson<Pending>(join(this.dir, 'pending.json'));
  }

  async setPending(pending: Pending): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(join(this.dir, 'pending.json'), `${JSON.stringify(pending)}\n`);
  }

  async clearPending(): Promise<void> {
    await rm(join(this.dir, 'pending.json'), { force: true });
  }
}
