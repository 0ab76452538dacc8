import { type ChildProcess, spawn } from 'node:child_process';
import { type FSWatcher, watch } from 'node:fs';
import { mkdir, open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { naturalCompare } from '../plan/natural-sort.js';
import type { ServiceInstance } from '../plan/types.js';
import type { ActivationContext, ActivationModule } from './activation/index.js';
import { ActivationError } from './errors.js';
import { identify, isSameProcess, processGroup } from './process-identity.js';
import { isPortFree, probeHost, waitUntilAccepting } from './readiness.js';
import type { RunningProcess, ServiceRecord, StateStore } from './state.js';

export type ServiceState = 'starting' | 'running' | 'backoff' | 'stopping';

export interface ServiceStatus {
  name: string;
  type: string;
  target: string;
  hash: string;
  state: ServiceState;
  pid: number | null;
  port: number | null;
  restarts: number;
  activatedAt: number;
  startedAt: number | null;
  uptimeMs: number | null;
  logFile: string;
  /** A proxy's admin listener (metrics, health, reload), on loopback; null for other services. */
  adminPort: number | null;
  instance: ServiceInstance;
}

/** What `collectGarbage` deleted (or, dry, would delete): service names whose directory, whose log went. */
export interface GarbageReport {
  services: string[];
  logs: string[];
}

export type ActivateAction = 'started' | 'replaced' | 'reloaded' | 'unchanged';

export interface SupervisorOptions {
  store: StateStore;
  modules: ReadonlyMap<string, ActivationModule>;
  /** Listen address for services whose config names none. */
  defaultHost: string;
  log: (line: string) => void;
  /** Readiness timeout when the request names none. */
  readyTimeoutMs?: number;
  /** First restart delay after a crash; doubled on each crash in a row up to `maxBackoffMs`. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** A process that stayed up this long before crashing restarts after `initialBackoffMs` again. */
  resetBackoffAfterMs?: number;
  /** How often processes that are not our children (adopted ones) are checked. */
  pollMs?: number;
  /** SIGTERM, then SIGKILL after this long. */
  stopTimeoutMs?: number;
}

interface Slot {
  name: string;
  record: ServiceRecord;
  state: ServiceState;
  child?: ChildProcess;
  backoffMs: number;
  restartTimer?: NodeJS.Timeout;
}

/**
 * Runs services and keeps them running. Each service is a detached process (its own process group, stdio to
 * `<state-dir>/logs/<name>.log`) so it outlives the agent; its identity goes to the state file so that the next agent
 * adopts it. A crashed service is restarted with exponential backoff. Operations on one service run one at a time.
 */
export class Supervisor {
  readonly #options: Required<SupervisorOptions>;
  readonly #slots = new Map<string, Slot>();
  readonly #queues = new Map<string, Promise<unknown>>();
  #poller: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: SupervisorOptions) {
    this.#options = {
      readyTimeoutMs: 10_000,
      initialBackoffMs: 200,
      maxBackoffMs: 10_000,
      resetBackoffAfterMs: 10_000,
      pollMs: 500,
      stopTimeoutMs: 5_000,
      ...options,
    };
  }

  get #store(): StateStore {
    return this.#options.store;
  }

  logFile(name: string): string {
    return join(this.#store.stateDir, 'logs', `${name}.log`);
  }

  serviceDir(name: string): string {
    return join(this.#store.stateDir, 'services', name);
  }

  /** Adopts every service of the state file whose process still runs and restarts the others. */
  async start(): Promise<void> {
    await mkdir(join(this.#store.stateDir, 'logs'), { recursive: true });
    for (const [name, record] of Object.entries(this.#store.state.services)) {
      const slot: Slot = { name, record, state: 'running', backoffMs: this.#options.initialBackoffMs };
      this.#slots.set(name, slot);
      if (record.process && (await isSameProcess(record.process))) {
        this.#options.log(`adopted ${name} (pid ${record.process.pid})`);
        continue;
      }
      if (record.process) {
        this.#options.log(`${name}: pid ${record.process.pid} is gone, restarting`);
      }
      record.process = undefined;
      this.#scheduleRestart(slot, 0);
    }
    await this.#store.save();
    this.#poller = setInterval(() => void this.#poll(), this.#options.pollMs);
    this.#poller.unref();
  }

  /** Stops supervising; the services keep running, to be adopted by the next agent. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#poller) clearInterval(this.#poller);
    for (const slot of this.#slots.values()) {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
    }
    await Promise.allSettled(this.#queues.values());
    await this.#store.flush();
  }

  list(): ServiceStatus[] {
    const now = Date.now();
    const slots = [...this.#slots.values()].sort((a, b) => naturalCompare(a.name, b.name));
    return slots.map((slot) => {
      const { instance, process: proc } = slot.record;
      const port = this.#options.modules.get(instance.type)?.port(instance);
      return {
        name: slot.name,
        type: instance.type,
        target: instance.target,
        hash: instance.hash,
        state: slot.state,
        pid: proc?.pid ?? null,
        port: port ?? null,
        restarts: slot.record.restarts,
        activatedAt: slot.record.activatedAt,
        startedAt: proc?.startedAt ?? null,
        uptimeMs: proc ? now - proc.startedAt : null,
        logFile: this.logFile(slot.name),
        adminPort: typeof slot.record.runtime?.adminPort === 'number' ? slot.record.runtime.adminPort : null,
        instance,
      };
    });
  }

  /** Runs `operation` after every earlier operation on the same service. */
  #serialize<T>(name: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(name) ?? Promise.resolve();
    const next = previous.then(operation, operation);
    const settled = next.catch(() => {});
    this.#queues.set(name, settled);
    void settled.then(() => {
      if (this.#queues.get(name) === settled) this.#queues.delete(name);
    });
    return next;
  }

  module(instance: ServiceInstance): ActivationModule {
    const module = this.#options.modules.get(instance.type);
    if (!module) throw new ActivationError(instance.name, `unknown service type '${instance.type}'`);
    return module;
  }

  /**
   * Makes `instance` run: nothing when the same identity already runs, a reload when its module takes the change
   * in place (a proxy's route table), else a (re)start that succeeds only once the service is ready. On failure
   * nothing of the new instance is left running.
   */
  activate(
    instance: ServiceInstance,
    timeoutMs?: number,
  ): Promise<{ action: ActivateAction; status: ServiceStatus }> {
    return this.#serialize(instance.name, async () => {
      const module = this.module(instance);
      const current = this.#slots.get(instance.name);
      let action: ActivateAction = 'started';
      if (current && current.state !== 'stopping') {
        const running = current.record.process;
        if (current.record.instance.hash === instance.hash) {
          return { action: 'unchanged', status: this.#status(instance.name) };
        }
        if (running && current.state === 'running' && module.canUpdate?.(current.record.instance, instance)) {
          const context = await this.#context(current.record);
          await module.update?.(instance, context, running.pid);
          current.record.instance = instance;
          current.record.runtime = context.runtime;
          await this.#store.save();
          this.#options.log(`reloaded ${instance.name} (pid ${running.pid}) with its new configuration`);
          return { action: 'reloaded', status: this.#status(instance.name) };
        }
        await this.#stop(current);
        action = 'replaced';
      }
      const record: ServiceRecord = { instance, restarts: 0, activatedAt: Date.now() };
      const slot: Slot = {
        name: instance.name,
        record,
        state: 'starting',
        backoffMs: this.#options.initialBackoffMs,
      };
      this.#slots.set(instance.name, slot);
      try {
        await this.#launch(slot, timeoutMs ?? this.#options.readyTimeoutMs);
      } catch (error) {
        this.#slots.delete(instance.name);
        delete this.#store.state.services[instance.name];
        await this.#store.save();
        throw error;
      }
      slot.state = 'running';
      return { action, status: this.#status(instance.name) };
    });
  }

  /** Stops a service and forgets it. Returns false when it was not there. */
  deactivate(name: string): Promise<boolean> {
    return this.#serialize(name, async () => {
      const slot = this.#slots.get(name);
      if (!slot) return false;
      await this.#stop(slot);
      return true;
    });
  }

  /**
   * Deletes the directories and logs of services this agent no longer runs and `keep` does not name (the services
   * of the generations the coordinator keeps). A service the agent runs, or is starting, is never touched: each
   * name is checked again in that service's queue, so a deploy activating it at the same moment goes first.
   */
  async collectGarbage(keep: ReadonlySet<string>, dryRun: boolean): Promise<GarbageReport> {
    const listNames = async (dir: string, suffix: string): Promise<string[]> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return [];
        throw error;
      });
      return entries
        .filter((entry) => (suffix ? entry.isFile() && entry.name.endsWith(suffix) : entry.isDirectory()))
        .map((entry) => entry.name.slice(0, entry.name.length - suffix.length));
    };
    const stateDir = this.#store.stateDir;
    const dirs = await listNames(join(stateDir, 'services'), '');
    const logs = await listNames(join(stateDir, 'logs'), '.log');
    const unused = (name: string) => !keep.has(name) && !this.#slots.has(name);
    const report: GarbageReport = { services: [], logs: [] };
    const names = [...new Set([...dirs, ...logs])].filter(unused).sort(naturalCompare);
    for (const name of names) {
      await this.#serialize(name, async () => {
        if (!unused(name)) return;
        if (dirs.includes(name)) {
          if (!dryRun) await rm(this.serviceDir(name), { recursive: true, force: true });
          report.services.push(name);
        }
        if (logs.includes(name)) {
          if (!dryRun) await rm(this.logFile(name), { force: true });
          report.logs.push(name);
        }
      });
    }
    if (!dryRun && names.length > 0) {
      this.#options.log(`collected garbage: ${names.length} unused service(s): ${names.join(', ')}`);
    }
    return report;
  }

  #status(name: string): ServiceStatus {
    const status = this.list().find((entry) => entry.name === name);
    if (!status) throw new Error(`no status for ${name}`);
    return status;
  }

  async #context(record: ServiceRecord): Promise<ActivationContext> {
    const serviceDir = this.serviceDir(record.instance.name);
    await mkdir(serviceDir, { recursive: true });
    return { serviceDir, defaultHost: this.#options.defaultHost, runtime: { ...(record.runtime ?? {}) } };
  }

  /** Starts the slot's instance and waits until it is ready; on failure kills what it started and throws. */
  async #launch(slot: Slot, timeoutMs: number): Promise<void> {
    const { instance } = slot.record;
    const module = this.module(instance);
    const context = await this.#context(slot.record);
    await module.prepare?.(instance, context);
    slot.record.runtime = context.runtime;
    const spec = module.launch(instance, context);
    // No waiting here: a service stopped for this one has let go of its port (see #kill), and connections it left
    // closing (FIN-WAIT, TIME-WAIT) do not keep a listener from binding, as node listens with SO_REUSEADDR.
    for (const { host, port } of spec.listens) {
      if (!(await isPortFree(host, port))) {
        throw new ActivationError(
          instance.name,
          `${instance.name}: port ${port} on ${host} is already in use`,
        );
      }
    }

    const logFile = this.logFile(instance.name);
    const log = await open(logFile, 'a', 0o600);
    let child: ChildProcess;
    const logStart = (await log.stat()).size;
    let spawnError: Error | undefined;
    let exited!: Promise<void>;
    try {
      await log.write(
        `--- ${new Date().toISOString()} nodix agent starts ${instance.name} (${instance.hash})\n`,
      );
      child = spawn(spec.command, spec.args, {
        detached: true,
        stdio: ['ignore', log.fd, log.fd],
        env: { ...process.env, ...spec.env },
        cwd: context.serviceDir,
      });
      // Listened to before anything else is awaited: a failed spawn emits 'error' on the next tick, and a command
      // that exits at once may be gone (and reaped) before its identity is read.
      exited = new Promise<void>((resolve) => {
        child.once('error', (error) => {
          spawnError = error;
          resolve();
        });
        child.once('exit', () => resolve());
      });
    } finally {
      await log.close();
    }
    child.unref();
    const pid = child.pid;
    const identity = pid === undefined ? undefined : await identify(pid);
    if (pid === undefined || identity === undefined) {
      // It never ran (spawnError) or has exited already: say so as any other exit before readiness, with its exit
      // code and log. Its 'exit' event comes once Node has reaped it; the limit only guards against a /proc that
      // cannot be read at all.
      let timer: NodeJS.Timeout | undefined;
      const settled = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), 5000);
        }),
      ]);
      clearTimeout(timer);
      if (!settled && pid !== undefined) {
        // Not reaped, so the PID is still our child's: safe to kill without an identity.
        killQuietly(-pid);
        throw new ActivationError(
          instance.name,
          `${instance.name}: could not read the identity of pid ${pid}`,
        );
      }
      throw await this.#exitedEarly(instance.name, logFile, logStart, child, spawnError, spec.command);
    }
    const proc: RunningProcess = { ...identity, startedAt: Date.now() };
    slot.child = child;
    slot.record.process = proc;
    this.#store.state.services[instance.name] = slot.record;
    child.once('exit', () => this.#onExit(slot, proc));
    // In the state before it is ready: an agent that dies right now leaves a process the next one can find.
    await this.#store.save();

    const alive = () => child.exitCode === null && child.signalCode === null && spawnError === undefined;
    let result: 'ready' | 'exited' | 'timeout' = 'ready';
    const started = Date.now();
    let readyMatch: RegExpExecArray | undefined;
    if (spec.readyLine) {
      // A service that says when it is ready is heard as it says it (its log is watched), not up to a probe
      // interval later, and a slow start costs a few reads instead of dozens of connection attempts.
      const match = await waitForLine(logFile, logStart, spec.readyLine, started + timeoutMs, alive, child);
      if (typeof match === 'string') result = match;
      else readyMatch = match;
    }
    // Ready means accepting connections; after the ready line this is one connection per address.
    for (const { host, port } of result === 'ready' ? spec.listens : []) {
      result = await waitUntilAccepting({
        host: probeHost(host),
        port,
        timeoutMs: Math.max(timeoutMs - (Date.now() - started), 0),
        isAlive: alive,
      });
      if (result !== 'ready') break;
    }
    if (result === 'ready' && readyMatch) {
      module.onReady?.(readyMatch, context);
      slot.record.runtime = context.runtime;
      await this.#store.save();
    } else if (result === 'ready' && spec.listens.length === 0 && !spec.readyLine) {
      await sleep(spec.settleMs ?? 0);
      if (!alive()) result = 'exited';
    }
    if (result === 'ready') {
      this.#options.log(
        `started ${instance.name} (pid ${pid}${spec.listens[0] ? `, port ${spec.listens[0].port}` : ''}) in ${Date.now() - proc.startedAt} ms`,
      );
      return;
    }
    await this.#kill(proc, child);
    slot.child = undefined;
    slot.record.process = undefined;
    if (result !== 'timeout') {
      throw await this.#exitedEarly(instance.name, logFile, logStart, child, spawnError, spec.command);
    }
    throw new ActivationError(
      instance.name,
      `${instance.name} was not ready within ${timeoutMs} ms${await describeLog(logFile, logStart)}`,
    );
  }

  /** The error of a service that ended before it was ready: how it ended, the last lines of its log, the log's path. */
  async #exitedEarly(
    name: string,
    logFile: string,
    logStart: number,
    child: ChildProcess,
    spawnError: Error | undefined,
    command: string,
  ): Promise<ActivationError> {
    if (spawnError) {
      return new ActivationError(name, `${name}: could not start ${command}: ${spawnError.message}`);
    }
    return new ActivationError(
      name,
      `${name} exited before it was ready (${describeExit(child, undefined)})${await describeLog(logFile, logStart)}`,
    );
  }

  /**
   * SIGTERM to the process group, SIGKILL after the stop timeout; never signals a PID that is someone else now.
   * Returns once the service has let go of everything it held (its port, for the replacement that follows): its
   * main process has exited with all its threads, and so has every other process of its group.
   */
  async #kill(proc: RunningProcess, child?: ChildProcess): Promise<void> {
    const signal = (name: NodeJS.Signals): void => {
      try {
        process.kill(-proc.pid, name);
      } catch {
        try {
          process.kill(proc.pid, name);
        } catch {
          // Already gone.
        }
      }
    };
    const leaderGone = async (): Promise<boolean> => {
      // Our own child's exit event comes only once all its threads are gone; otherwise ask /proc.
      if (child && (child.exitCode !== null || child.signalCode !== null)) return true;
      return !(await isSameProcess(proc));
    };
    if (await leaderGone()) return;
    // The rest of the group, taken while its leader provably runs: the group ID is then still ours, not reused.
    const others = (await processGroup(proc.pid)).filter((member) => member.pid !== proc.pid);
    const running = async (): Promise<number[]> => {
      const left = (await leaderGone()) ? [] : [proc.pid];
      for (const member of others) {
        if (await isSameProcess(member)) left.push(member.pid);
      }
      return left;
    };
    signal('SIGTERM');
    const deadline = Date.now() + this.#options.stopTimeoutMs;
    while (Date.now() < deadline) {
      if ((await running()).length === 0) return;
      await sleep(20);
    }
    if ((await running()).length === 0) return;
    // A member alive keeps the group ID from being reused, so signalling the group still reaches only ours.
    signal('SIGKILL');
    let left: number[] = [];
    for (let attempt = 0; attempt < 100; attempt += 1) {
      left = await running();
      if (left.length === 0) return;
      await sleep(20);
    }
    throw new Error(`pid ${left.join(', ')} survived SIGKILL`);
  }

  async #stop(slot: Slot): Promise<void> {
    slot.state = 'stopping';
    if (slot.restartTimer) clearTimeout(slot.restartTimer);
    const proc = slot.record.process;
    if (proc) {
      try {
        await this.#kill(proc, slot.child);
      } catch (error) {
        slot.state = 'running';
        throw new ActivationError(
          slot.name,
          `${slot.name}: could not stop pid ${proc.pid}: ${(error as Error).message}`,
        );
      }
      this.#options.log(`stopped ${slot.name} (pid ${proc.pid})`);
    }
    this.#slots.delete(slot.name);
    delete this.#store.state.services[slot.name];
    await this.#store.save();
  }

  async #poll(): Promise<void> {
    for (const slot of this.#slots.values()) {
      const proc = slot.record.process;
      // Our own children report their exit; only adopted processes need to be looked at.
      if (slot.state !== 'running' || !proc || slot.child) continue;
      if (!(await isSameProcess(proc))) this.#onExit(slot, proc);
    }
  }

  #onExit(slot: Slot, proc: RunningProcess): void {
    if (this.#closed || slot.state !== 'running' || slot.record.process !== proc) return;
    if (this.#slots.get(slot.name) !== slot) return;
    const ranMs = Date.now() - proc.startedAt;
    if (ranMs >= this.#options.resetBackoffAfterMs) slot.backoffMs = this.#options.initialBackoffMs;
    this.#options.log(
      `${slot.name} (pid ${proc.pid}) exited after ${ranMs} ms; restarting in ${slot.backoffMs} ms`,
    );
    slot.record.process = undefined;
    slot.child = undefined;
    void this.#store.save().catch(() => {});
    this.#scheduleRestart(slot, slot.backoffMs);
    slot.backoffMs = Math.min(slot.backoffMs * 2, this.#options.maxBackoffMs);
  }

  #scheduleRestart(slot: Slot, delayMs: number): void {
    slot.state = 'backoff';
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      void this.#serialize(slot.name, async () => {
        if (this.#closed || this.#slots.get(slot.name) !== slot || slot.state !== 'backoff') return;
        slot.state = 'starting';
        try {
          await this.#launch(slot, this.#options.readyTimeoutMs);
          slot.record.restarts += 1;
          slot.state = 'running';
          await this.#store.save();
        } catch (error) {
          if (this.#closed || this.#slots.get(slot.name) !== slot) return;
          this.#options.log(`restart of ${slot.name} failed: ${(error as Error).message}`);
          // Treat the failed start as one more crash in a row.
          this.#scheduleRestart(slot, slot.backoffMs);
          slot.backoffMs = Math.min(slot.backoffMs * 2, this.#options.maxBackoffMs);
        }
      });
    }, delayMs);
    slot.restartTimer.unref();
  }
}

/** Without a working file watcher, how often the log is read while waiting for the ready line. */
const LINE_POLL_MS = 50;
/** With one, how often it is read anyway (and the process checked for having exited). */
const LINE_WATCHED_POLL_MS = 250;

/**
 * Reads the service's log (from `from`) each time it is written to, until `pattern` matches, the process exits, or
 * the deadline passes. Without a file watcher (none left, or a file system without change events) it polls.
 */
async function waitForLine(
  file: string,
  from: number,
  pattern: RegExp,
  deadline: number,
  alive: () => boolean,
  child: ChildProcess,
): Promise<RegExpExecArray | 'exited' | 'timeout'> {
  let wake: (() => void) | undefined;
  let changed = false;
  const onExit = () => {
    changed = true;
    wake?.();
  };
  child.once('exit', onExit);
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(file, { persistent: false }, () => {
      changed = true;
      wake?.();
    });
    watcher.on('error', () => {
      watcher?.close();
      watcher = undefined;
    });
  } catch {
    watcher = undefined;
  }
  try {
    for (;;) {
      changed = false;
      const match = pattern.exec(await readFrom(file, from));
      if (match) return match;
      if (!alive()) return 'exited';
      const left = deadline - Date.now();
      if (left <= 0) return 'timeout';
      // A write between the read and here has set `changed`: read again at once.
      if (changed) continue;
      const pollMs = Math.min(watcher ? LINE_WATCHED_POLL_MS : LINE_POLL_MS, left);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    watcher?.close();
    child.off('exit', onExit);
  }
}

async function readFrom(file: string, from: number): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(file, 'r');
    const size = (await handle.stat()).size;
    const buffer = Buffer.alloc(Math.max(Math.min(size - from, 65_536), 0));
    await handle.read(buffer, 0, buffer.length, from);
    return buffer.toString('utf8');
  } catch {
    return '';
  } finally {
    await handle?.close();
  }
}

function describeExit(child: ChildProcess, spawnError: Error | undefined): string {
  if (spawnError) return spawnError.message;
  if (child.signalCode) return `killed by ${child.signalCode}`;
  return `exit code ${child.exitCode}`;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** `: <last lines> (log: <path>)`, or ` (log <path> is empty)`: the reason is usually in those lines. */
async function describeLog(file: string, from: number): Promise<string> {
  const tail = await readTail(file, from);
  return tail ? `: ${tail} (log: ${file})` : ` (nothing in its log ${file})`;
}

/** The last lines a failed service wrote, for the error message: that is usually the reason. */
async function readTail(file: string, from: number): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(file, 'r');
    const size = (await handle.stat()).size;
    const start = Math.max(from, size - 16_384);
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    const lines = buffer
      .toString('utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('--- '));
    return lines.slice(-3).join(' | ').slice(0, 500);
  } catch {
    return '';
  } finally {
    await handle?.close();
  }
}
