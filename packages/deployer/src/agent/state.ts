import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServiceInstance } from '../plan/types.js';
import { writeFileAtomic } from './atomic-file.js';
import { type LockHolder, StateCorruptError } from './errors.js';
import type { ProcessIdentity } from './process-identity.js';
import { checkServiceInstance, isRecord, type Problem } from './validate.js';

/**
 * What an agent remembers across restarts, in `<state-dir>/state.json`: the services it is asked to keep running
 * (with the identity of the process running each, so a restarted agent adopts it instead of starting a second one)
 * and the deploy lock. Written atomically on every change; read once at start.
 */
export interface RunningProcess extends ProcessIdentity {
  /** Epoch milliseconds at which the process was started (uptime is measured from here). */
  startedAt: number;
}

export interface ServiceRecord {
  instance: ServiceInstance;
  /** The process running the service, absent while it waits to be restarted. */
  process?: RunningProcess;
  /** Restarts after a crash since the service was activated. */
  restarts: number;
  /** Epoch milliseconds of the activation. */
  activatedAt: number;
  /** Values an activation module needs again later (the proxy's admin port). */
  runtime?: Record<string, unknown>;
}

export interface AgentState {
  version: 1;
  lock: LockHolder | null;
  services: Record<string, ServiceRecord>;
}

export const STATE_FILE = 'state.json';

export function emptyState(): AgentState {
  return { version: 1, lock: null, services: {} };
}

function checkLock(value: unknown): Problem {
  if (value === null) return undefined;
  if (!isRecord(value)) return 'lock: must be an object or null';
  if (typeof value.owner !== 'string') return 'lock.owner: must be a string';
  if (typeof value.acquiredAt !== 'number' || typeof value.expiresAt !== 'number') {
    return 'lock: acquiredAt and expiresAt must be numbers';
  }
  return undefined;
}

function checkRecord(value: unknown, key: string): Problem {
  const path = `services.${key}`;
  if (!isRecord(value)) return `${path}: must be an object`;
  const problem = checkServiceInstance(value.instance, `${path}.instance`);
  if (problem) return problem;
  if ((value.instance as ServiceInstance).name !== key) return `${path}.instance.name: differs from its key`;
  if (typeof value.restarts !== 'number' || typeof value.activatedAt !== 'number') {
    return `${path}: restarts and activatedAt must be numbers`;
  }
  if (value.runtime !== undefined && !isRecord(value.runtime)) return `${path}.runtime: must be an object`;
  const proc = value.process;
  if (proc === undefined) return undefined;
  if (
    !isRecord(proc) ||
    typeof proc.pid !== 'number' ||
    typeof proc.startTime !== 'string' ||
    typeof proc.bootId !== 'string' ||
    typeof proc.startedAt !== 'number'
  ) {
    return `${path}.process: must have pid, startTime, bootId and startedAt`;
  }
  return undefined;
}

export function checkState(value: unknown): Problem {
  if (!isRecord(value)) return 'not a JSON object';
  if (value.version !== 1) return `version: expected 1, found ${JSON.stringify(value.version)}`;
  const lockProblem = checkLock(value.lock);
  if (lockProblem) return lockProblem;
  if (!isRecord(value.services)) return 'services: must be an object';
  for (const [key, record] of Object.entries(value.services)) {
    const problem = checkRecord(record, key);
    if (problem) return problem;
  }
  return undefined;
}

/** Reads the state; a missing file is an empty state, anything unreadable is a StateCorruptError. */
export async function loadState(stateDir: string): Promise<AgentState> {
  const path = join(stateDir, STATE_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new StateCorruptError(path, (error as Error).message, { cause: error });
  }
  const problem = checkState(value);
  if (problem) throw new StateCorruptError(path, problem);
  return value as AgentState;
}

/**
 * The in-memory state and its file. Every change calls `save()`; writes run one after another, each writing the state
 * as it is when the write starts, so the file always ends at the latest state. Saves called while a write waits for
 * its turn share that write: ten services started at once cost one or two writes (and fsyncs), not ten.
 */
export class StateStore {
  readonly stateDir: string;
  readonly path: string;
  readonly state: AgentState;
  #queue: Promise<void> = Promise.resolve();
  /** The write that has not started yet, which a new save joins. */
  #waiting: Promise<void> | undefined;

  private constructor(stateDir: string, state: AgentState) {
    this.stateDir = stateDir;
    this.path = join(stateDir, STATE_FILE);
    this.state = state;
  }

  static async open(stateDir: string): Promise<StateStore> {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    return new StateStore(stateDir, await loadState(stateDir));
  }

  save(): Promise<void> {
    if (this.#waiting) return this.#waiting;
    const write = this.#queue.then(() => {
      // From here on a new save needs a write of its own: this one's snapshot is taken now.
      this.#waiting = undefined;
      return writeFileAtomic(this.path, `${JSON.stringify(this.state, null, 2)}\n`, 0o600);
    });
    this.#waiting = write;
    // A failed write must not stop the ones after it; the callers still see their failure.
    this.#queue = write.catch(() => {});
    return write;
  }

  /** Waits for every save called so far. */
  flush(): Promise<void> {
    return this.#queue;
  }
}
