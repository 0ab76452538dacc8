/**
 * Starting and stopping the processes a benchmark needs. Every process is registered the moment it is spawned and
 * stopped by its PID (and its own process group, for helpers it may have forked) when the scenario ends, when the
 * harness fails, and on Ctrl-C: a benchmark must never leave a server behind on a machine others share.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export type ReadyCheck =
  /** A line on stdout or stderr; its match (capture groups: the port) is handed back. */
  | { line: RegExp }
  /** A TCP port on 127.0.0.1 that accepts connections (nginx prints nothing when ready). */
  | { port: number };

export interface StartOptions {
  /** Label for messages: `nginx`, `backend webapp1.local`, ... */
  label: string;
  command: string;
  args: readonly string[];
  /** Put in front of the command line: the taskset pinning. */
  prefix?: readonly string[];
  ready: ReadyCheck;
  readyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Sees every line the process prints (progress of a long measurement). */
  onLine?: (line: string) => void;
}

export interface RunningProcess {
  label: string;
  pid: number;
  /** The ready line's match; for a port check, a match of the port number. */
  readyMatch: RegExpExecArray;
  /** Set once the process has exited: how. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Resolves when the process has exited (a load generator's end). */
  exited: Promise<void>;
  /** The last lines it printed, for error messages. */
  outputTail(): string;
  /** Send a signal by PID (SIGHUP for a reload); false when it has already exited. */
  signal(signal: NodeJS.Signals): boolean;
  stop(): Promise<void>;
}

const running = new Set<RunningProcess>();
const TAIL_LINES = 40;
const STOP_GRACE_MS = 3000;

/** Kill one process or group, ignoring "no such process": it may have exited between check and kill. */
function tryKill(target: number, signal: NodeJS.Signals): void {
  try {
    process.kill(target, signal);
  } catch {
    // ESRCH: already gone.
  }
}

function waitForPort(port: number, deadline: number, child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null)
        return reject(new Error('exited before ready'));
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`port ${port} not accepting connections`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export async function startProcess(options: StartOptions): Promise<RunningProcess> {
  const prefix = options.prefix ?? [];
  const argv = [...prefix, options.command, ...options.args];
  // detached: the server leads its own process group, so stopping it also reaches anything it forked (nginx's
  // worker, a cluster's workers) and the terminal's Ctrl-C reaches the harness, which then stops it in order.
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  if (child.pid === undefined) {
    await new Promise((resolve) => child.once('error', resolve));
    throw new Error(`${options.label}: could not start ${argv.join(' ')}`);
  }
  const pid = child.pid;
  const tail: string[] = [];
  const lineWaiters = new Set<(line: string) => void>();
  const onLine = (line: string) => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    for (const waiter of lineWaiters) waiter(line);
    options.onLine?.(line);
  };
  // Both pipes are read until the end so a chatty server never blocks on a full pipe during a load.
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      proc.exit = { code, signal };
      resolve();
    });
  });

  const proc: RunningProcess = {
    label: options.label,
    pid,
    readyMatch: /$/.exec('') as RegExpExecArray,
    exit: undefined,
    exited,
    outputTail: () => tail.join('\n'),
    signal: (signal) => {
      if (proc.exit) return false;
      tryKill(pid, signal);
      return true;
    },
    stop: async () => {
      if (!proc.exit) {
        tryKill(pid, 'SIGTERM');
        const timer = new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS).unref());
        await Promise.race([exited, timer]);
        if (!proc.exit) {
          tryKill(-pid, 'SIGKILL');
          tryKill(pid, 'SIGKILL');
          await exited;
        }
      }
      // Whatever the leader left behind in its group (a worker that outlived its master).
      tryKill(-pid, 'SIGKILL');
      running.delete(proc);
    },
  };
  running.add(proc);

  const timeoutMs = options.readyTimeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  try {
    if ('line' in options.ready) {
      const pattern = options.ready.line;
      proc.readyMatch = await new Promise<RegExpExecArray>((resolve, reject) => {
        const done = (error?: Error, match?: RegExpExecArray) => {
          clearTimeout(timer);
          lineWaiters.delete(waiter);
          if (match) resolve(match);
          else reject(error);
        };
        const waiter = (line: string) => {
          const match = pattern.exec(line);
          if (match) done(undefined, match);
        };
        const timer = setTimeout(
          () => done(new Error(`no ready line ${pattern} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        lineWaiters.add(waiter);
        exited.then(() => done(new Error('exited before ready')));
      });
    } else {
      await waitForPort(options.ready.port, deadline, child);
      proc.readyMatch = /\d+/.exec(String(options.ready.port)) as RegExpExecArray;
    }
  } catch (error) {
    await proc.stop();
    const how = proc.exit ? ` (exit code ${proc.exit.code}, signal ${proc.exit.signal})` : '';
    throw new Error(
      `${options.label}: ${(error as Error).message}${how}\n  command: ${argv.join(' ')}\n  output:\n${indent(proc.outputTail())}`,
    );
  }
  return proc;
}

function indent(text: string): string {
  return text === '' ? '    (none)' : text.replace(/^/gm, '    ');
}

/** Stop everything still running, newest first (proxies before the backends they use). */
export async function stopAll(): Promise<void> {
  for (const proc of [...running].reverse()) await proc.stop();
}

let cleanupInstalled = false;
const cleanupHooks = new Set<() => Promise<void>>();

/** Something else to undo on Ctrl-C (a temp dir); returns the function that unregisters it once done normally. */
export function registerCleanup(hook: () => Promise<void>): () => void {
  cleanupHooks.add(hook);
  return () => cleanupHooks.delete(hook);
}

/** A scenario's temp dir, removed on Ctrl-C too; `remove()` deletes it once the scenario is done. */
export async function scenarioTempDir(
  scenario: string,
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `nodix-bench-${scenario}-`));
  const removeDir = () => rm(dir, { recursive: true, force: true });
  const unregister = registerCleanup(removeDir);
  return {
    dir,
    remove: async () => {
      await removeDir();
      unregister();
    },
  };
}

/**
 * On Ctrl-C or SIGTERM stop every registered process, then exit with the conventional code; on any other exit
 * (an uncaught error) kill them synchronously, since nothing async runs in an 'exit' handler.
 */
let stopping = false;

/** True once Ctrl-C or SIGTERM arrived: results of the interrupted scenario must not overwrite good ones. */
export function isInterrupted(): boolean {
  return stopping;
}

export function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`\n[bench] ${signal}: stopping ${running.size} process(es)\n`);
      void stopAll()
        .then(() => Promise.allSettled([...cleanupHooks].map((hook) => hook())))
        .finally(() => process.exit(code));
    });
  }
  process.on('exit', () => {
    for (const proc of running) {
      tryKill(proc.pid, 'SIGKILL');
      tryKill(-proc.pid, 'SIGKILL');
    }
  });
}
