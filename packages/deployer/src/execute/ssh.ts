import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { type ClientRequestArgs, Agent as HttpAgent } from 'node:http';
import { connect as connectSocket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { EXIT_NO_AGENT, EXIT_SOCKET_PERMISSION } from '../agent/socket.js';
import { NodixError } from '../errors.js';
import { parseSshTarget } from '../models/infrastructure.js';
import type { SshAgentAddress } from '../plan/types.js';
import { shellQuote } from '../shell-quote.js';

/**
 * The SSH client interface (Disnix's `disnix-ssh-client`): the agent API spoken over SSH to the agent's Unix socket,
 * with the system's OpenSSH doing the work, so ~/.ssh/config, ProxyJump, ssh-agent and known_hosts all apply.
 *
 * One connection per target: a master (`ControlMaster`) in a private 0700 directory, made on the first request and
 * closed (`ssh -O exit`) with the client. Before the first request the master forwards a local Unix socket in the
 * private directory to the agent's (`ssh -O forward -L local:remote`, OpenSSH stream-local forwarding): every HTTP/1.1
 * connection of the agent client is a channel of the master straight to the agent's socket, opened as the login
 * user (so the socket's permissions still authorise), with no process started on the target per request. The
 * agent's socket is the target's `agentSocket`; where none is named, or no agent answers there, one session runs
 * `nodix agent connect --check` on the target: it says where the socket is, or why it cannot be reached (agent not
 * running, nodix missing, permission) in the clear lines classifySshFailure makes. Where the
 * target's sshd refuses stream-local forwarding (AllowStreamLocalForwarding, DisableForwarding) or its nodix predates
 * `--check`, every connection is a session running `nodix agent connect` instead, as a stream. Either way node:http's
 * pool keeps the connections alive and reuses them, so this layer knows nothing of the agent's endpoints.
 */

/** How the coordinator runs ssh: from `--ssh-option`, `--ssh-config`, `NODIX_SSH`. */
export interface SshSettings {
  /** The ssh client, default `ssh` from PATH (`NODIX_SSH`). */
  command: string;
  /** `ssh -F FILE` (`--ssh-config`, `NODIX_SSH_CONFIG`). */
  configFile?: string;
  /** `ssh -o` options for every target (`--ssh-option`), after the target's own `sshOptions` (ssh: first wins). */
  options: string[];
}

export const DEFAULT_SSH_SETTINGS: SshSettings = { command: 'ssh', options: [] };

/**
 * Defaults that a target's `sshOptions` or `--ssh-option` may override: give up connecting after 10 s, and notice a
 * connection that went silent (a cut link) within about 15 s instead of TCP's many minutes.
 */
const DEFAULT_OPTIONS = ['ConnectTimeout=10', 'ServerAliveInterval=5', 'ServerAliveCountMax=3'];

/** An idle master left behind by a coordinator that was killed exits on its own after this. */
const CONTROL_PERSIST_S = 120;

/**
 * sshd allows 10 sessions per connection by default (MaxSessions): stay below so parallel activations queue in the
 * pool instead of being refused.
 */
const MAX_SESSIONS = 8;

/** Failures of the SSH layer, told apart for the user; every message starts with what to know and ends with what to do. */
export class SshError extends NodixError {}

function lastLines(text: string, count = 2): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^(@+|Warning: Permanently added)/.test(line))
    .slice(-count)
    .join(' ');
}

/**
 * What went wrong, from ssh's exit code and stderr: ssh itself exits 255 (host key, authentication, network); the
 * remote shell 127 when `nodix` is missing; `nodix agent connect` its own codes. `established`: a connection to the
 * target had been made, so a network failure now is a connection lost.
 */
export function classifySshFailure(
  code: number,
  stderr: string,
  context: { destination: string; remoteCommand: string; established: boolean },
): SshError {
  const at = context.destination;
  const detail = lastLines(stderr);
  if (code === 127) {
    return new SshError(
      `nodix is not installed on ${at} ('${context.remoteCommand}': command not found): install it there, or set the target's nodixCommand to its path`,
      { code: 'NODIX_ERR_NODIX_MISSING' },
    );
  }
  if (code === EXIT_NO_AGENT) {
    return new SshError(`${detail.replace(/^nodix: /, '').replace(/this machine/, at)}`, {
      code: 'NODIX_ERR_AGENT_NOT_RUNNING',
    });
  }
  if (code === EXIT_SOCKET_PERMISSION) {
    return new SshError(`${detail.replace(/^nodix: /, '')} on ${at}`, {
      code: 'NODIX_ERR_AGENT_SOCKET_DENIED',
    });
  }
  if (
    /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed|host key .* differs/i.test(stderr)
  ) {
    return new SshError(
      `host key of ${at} does not match known_hosts (refused: the host was reinstalled, or someone is in between): check its fingerprint, then fix known_hosts (ssh-keygen -R)`,
      { code: 'NODIX_ERR_SSH_HOST_KEY' },
    );
  }
  if (/No \S+ host key is known for|Host key verification failed/i.test(stderr)) {
    return new SshError(
      `host key of ${at} is not in known_hosts (refused, as BatchMode=yes cannot ask): add it after checking its fingerprint (ssh-keyscan, ssh-keygen -lf)`,
      { code: 'NODIX_ERR_SSH_HOST_KEY' },
    );
  }
  if (/Permission denied|Too many authentication failures/i.test(stderr)) {
    return new SshError(
      `permission denied logging in to ${at} (${detail}): check the user, the key (ssh-agent, IdentityFile) and the target's authorized_keys`,
      { code: 'NODIX_ERR_SSH_AUTH' },
    );
  }
  const network =
    /Could not resolve hostname|Name or service not known|Temporary failure in name resolution|Connection refused|Connection timed out|timed out|No route to host|Network is unreachable|connect to host/i.test(
      stderr,
    );
  const lost =
    /Connection closed|closed by remote host|Connection reset|Broken pipe|not responding|client_loop|mux_client|Connection to .* closed/i.test(
      stderr,
    );
  if (context.established && (network || lost || code === 255)) {
    return new SshError(`connection to ${at} lost${detail ? ` (${detail})` : ''}`, {
      code: 'NODIX_ERR_SSH_LOST',
    });
  }
  if (network) {
    return new SshError(`cannot reach ${at} over SSH (${detail})`, { code: 'NODIX_ERR_SSH_UNREACHABLE' });
  }
  return new SshError(`ssh to ${at} failed (exit code ${code}${detail ? `: ${detail}` : ''})`, {
    code: code === 255 ? 'NODIX_ERR_SSH' : 'NODIX_ERR_SSH_REMOTE',
  });
}

/**
 * One SSH session as the stream node:http writes a request to and reads the answer from. The end of ssh's stdout is
 * held back until ssh has exited: a session that fails ends with the reason (SshError), not with a bare EOF.
 */
class SshSession extends Duplex {
  readonly #child: ChildProcess;
  #stderr = '';

  constructor(child: ChildProcess, fail: (code: number, stderr: string) => Error) {
    super({ allowHalfOpen: false });
    this.#child = child;
    const stdout = child.stdout!;
    stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) stdout.pause();
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      if (this.#stderr.length < 16_384) this.#stderr += chunk;
    });
    // EPIPE when ssh went away: the exit code says why.
    child.stdin!.on('error', () => {});
    child.once('error', (error) => this.destroy(error));
    child.once('close', (code, signal) => {
      if (this.destroyed) return;
      if (code === 0) this.push(null);
      else this.destroy(fail(code ?? 255, this.#stderr || (signal ? `killed by ${signal}` : '')));
    });
  }

  override _read(): void {
    this.#child.stdout?.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#child.stdin!.write(chunk)) callback();
    else this.#child.stdin!.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#child.stdin!.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGTERM');
    callback(error);
  }

  // What node:http's pool calls on its sockets: an idle session must not keep the coordinator alive.
  setKeepAlive(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setTimeout(): this {
    return this;
  }
  ref(): this {
    this.#child.ref();
    for (const stream of [this.#child.stdin, this.#child.stdout, this.#child.stderr]) {
      (stream as unknown as { ref?: () => void } | null)?.ref?.();
    }
    return this;
  }
  unref(): this {
    this.#child.unref();
    for (const stream of [this.#child.stdin, this.#child.stdout, this.#child.stderr]) {
      (stream as unknown as { unref?: () => void } | null)?.unref?.();
    }
    return this;
  }
}

/** How the pool reaches the agent: the master's forwarded local socket, or a session per connection. */
type Route = { socket: string } | { sessions: true };

/** What a short ssh command (probe, control command) printed and how it exited. */
interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Whether an HTTP server answers on `path`: a forward the target's sshd refused accepts the local connection and
 * closes it without a byte once the channel is refused.
 */
function answersHttp(path: string, timeoutMs = 10_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectSocket(path);
    let head = '';
    const done = (answered: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answered);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      head += chunk;
      if (head.length >= 9) done(head.startsWith('HTTP/1.'));
    });
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
    socket.write('GET /v1/health HTTP/1.1\r\nHost: nodix-agent\r\nConnection: close\r\n\r\n');
  });
}

/** The SSH connection to one target: its master, its forwarded socket or sessions, its private control directory. */
export class SshConnection {
  readonly destination: string;
  readonly remoteCommand: string;
  readonly #address: SshAgentAddress;
  readonly #settings: SshSettings;
  #dir: string | undefined;
  #master: Promise<void> | undefined;
  #established = false;
  #closed = false;
  #route: Promise<Route> | undefined;

  constructor(address: SshAgentAddress, settings: SshSettings) {
    this.#address = address;
    this.#settings = settings;
    this.destination = address.sshTarget;
    const socket = address.agentSocket === undefined ? '' : ` --socket ${shellQuote(address.agentSocket)}`;
    this.remoteCommand = `${address.nodixCommand ?? 'nodix'} agent connect${socket}`;
  }

  /** ssh's arguments up to and including the destination. BatchMode and the control path cannot be overridden. */
  #args(control: string[]): string[] {
    const parts = parseSshTarget(this.#address.sshTarget);
    if (!parts)
      throw new SshError(`sshTarget '${this.#address.sshTarget}' is not [user@]host[:port]`, {
        code: 'NODIX_ERR_SSH',
      });
    const options = [...control, 'BatchMode=yes', `ControlPath=${this.#dir}/%C`];
    options.push(...(this.#address.sshOptions ?? []), ...this.#settings.options, ...DEFAULT_OPTIONS);
    return [
      ...(this.#settings.configFile ? ['-F', this.#settings.configFile] : []),
      ...options.flatMap((option) => ['-o', option]),
      ...(parts.port === undefined ? [] : ['-p', String(parts.port)]),
      ...(parts.user === undefined ? [] : ['-l', parts.user]),
      parts.host,
    ];
  }

  #fail(code: number, stderr: string): SshError {
    return classifySshFailure(code, stderr, {
      destination: this.destination,
      remoteCommand: this.remoteCommand,
      established: this.#established,
    });
  }

  #spawn(args: string[], stdio: Parameters<typeof spawn>[2]['stdio']): ChildProcess {
    return spawn(this.#settings.command, args, { stdio, env: process.env });
  }

  #spawnError(error: NodeJS.ErrnoException): SshError {
    return new SshError(
      error.code === 'ENOENT'
        ? `the ssh client '${this.#settings.command}' is not installed (install openssh-client, or set NODIX_SSH)`
        : `cannot run ${this.#settings.command}: ${error.message}`,
      { code: 'NODIX_ERR_SSH_CLIENT', cause: error },
    );
  }

  /** Opens the master connection: ssh authenticates, then goes to the background (-f) holding the control socket. */
  async #startMaster(): Promise<void> {
    this.#dir = await mkdtemp(join(tmpdir(), 'nodix-ssh-'));
    const logPath = join(this.#dir, 'master.log');
    const log = await open(logPath, 'w', 0o600);
    let code: number;
    try {
      code = await new Promise<number>((resolve, reject) => {
        const child = this.#spawn(
          ['-f', '-N', ...this.#args(['ControlMaster=yes', `ControlPersist=${CONTROL_PERSIST_S}`])],
          ['ignore', 'ignore', log.fd],
        );
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        child.once('error', (error) => {
          clearTimeout(timer);
          reject(this.#spawnError(error));
        });
        child.once('exit', (exitCode) => {
          clearTimeout(timer);
          resolve(exitCode ?? 255);
        });
      });
    } finally {
      await log.close();
    }
    if (code !== 0) throw this.#fail(code, await readFile(logPath, 'utf8').catch(() => ''));
    this.#established = true;
  }

  /** Runs ssh with `args` to the end, collecting its output. */
  #run(args: string[], timeoutMs = 60_000): Promise<Ran> {
    return new Promise((resolve, reject) => {
      const child = this.#spawn(args, ['ignore', 'pipe', 'pipe']);
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
      });
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        if (stderr.length < 16_384) stderr += chunk;
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(this.#spawnError(error));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code: code ?? 255, stdout, stderr: stderr || (signal ? `killed by ${signal}` : '') });
      });
    });
  }

  /**
   * Everything before the first request, so that a request's own time limits start only once the target is reached:
   * the master, the probe, the forward. Fails with the SSH layer's clear line; the same promise for every request.
   */
  ready(): Promise<void> {
    if (this.#closed)
      return Promise.reject(
        new SshError(`the SSH connection to ${this.destination} is closed`, { code: 'NODIX_ERR_SSH' }),
      );
    this.#route ??= this.#prepare();
    return this.#route.then(() => undefined);
  }

  async #prepare(): Promise<Route> {
    this.#master ??= this.#startMaster();
    await this.#master;
    // The socket the infrastructure names is tried first: where the agent answers there, no process needs to start
    // on the target at all. Otherwise the probe says where the socket is, or why the agent cannot be reached.
    const named = this.#address.agentSocket;
    if (named !== undefined) {
      const socket = await this.#forward(named, 'agent.sock');
      if (socket !== undefined) return { socket };
    }
    const probe = await this.#run([...this.#args(['ControlMaster=no']), `${this.remoteCommand} --check`]);
    // A nodix without --check (usage error, 2) still relays: one session per connection, as before.
    if (probe.code === 2) return { sessions: true };
    if (probe.code !== 0) throw this.#fail(probe.code, probe.stderr);
    const socket = await this.#forward(probe.stdout.trim().split('\n').at(-1) ?? '', 'agent-checked.sock');
    return socket === undefined ? { sessions: true } : { socket };
  }

  /**
   * Has the master forward the local socket `name` in the private directory to the agent's socket `remote` on the
   * target; its path once an agent answers through it, undefined when the forward cannot be made or reaches no agent
   * (none listens there, or sshd refuses stream-local forwarding).
   */
  async #forward(remote: string, name: string): Promise<string | undefined> {
    // ssh's -L takes `local:remote`; a path with a colon cannot be said.
    if (!remote.startsWith('/') || remote.includes(':')) return undefined;
    const local = join(this.#dir!, name);
    const forward = await this.#run(['-O', 'forward', '-L', `${local}:${remote}`, ...this.#args([])]);
    return forward.code === 0 && (await answersHttp(local)) ? local : undefined;
  }

  /** A connection to the agent for node:http's pool: a forwarded channel or a session (see `ready`). */
  async openConnection(): Promise<Duplex> {
    await this.ready();
    const route = await this.#route!;
    if ('socket' in route) return connectSocket(route.socket);
    return this.openSession();
  }

  /**
   * Why a forwarded connection failed, in the SSH layer's terms, when it can be told: the master is gone (the
   * connection was lost: its log says why), or the probe now fails (the agent stopped). Undefined otherwise.
   */
  async diagnose(): Promise<SshError | undefined> {
    const route = await this.#route?.catch(() => undefined);
    if (route === undefined || !('socket' in route) || this.#closed) return undefined;
    const masterLog = await readFile(join(this.#dir!, 'master.log'), 'utf8').catch(() => '');
    const check = await this.#run(['-O', 'check', ...this.#args([])], 10_000).catch(() => undefined);
    if (check?.code !== 0 || lastLines(masterLog) !== '') return this.#fail(255, masterLog);
    const probe = await this.#run([...this.#args(['ControlMaster=no']), `${this.remoteCommand} --check`]);
    return probe.code === 0 ? undefined : this.#fail(probe.code, probe.stderr);
  }

  /** A new session running `nodix agent connect` on the target, as a stream. */
  async openSession(): Promise<Duplex> {
    if (this.#closed)
      throw new SshError(`the SSH connection to ${this.destination} is closed`, { code: 'NODIX_ERR_SSH' });
    this.#master ??= this.#startMaster();
    await this.#master;
    const child = this.#spawn(
      [...this.#args(['ControlMaster=no']), this.remoteCommand],
      ['pipe', 'pipe', 'pipe'],
    );
    const session = new SshSession(child, (code, stderr) => this.#fail(code, stderr));
    child.once('error', (error) => session.destroy(this.#spawnError(error)));
    return session;
  }

  /** Closes the master (`ssh -O exit`) and deletes the control directory. */
  async close(): Promise<void> {
    this.#closed = true;
    const master = this.#master;
    if (master === undefined) return;
    const started = await master.then(
      () => true,
      () => false,
    );
    if (started) {
      await new Promise<void>((resolve) => {
        const child = this.#spawn(['-O', 'exit', ...this.#args([])], 'ignore');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('error', () => resolve());
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    if (this.#dir !== undefined) await rm(this.#dir, { recursive: true, force: true });
  }
}

/** node:http's connection pool, with SSH sessions instead of TCP sockets. */
export class SshHttpAgent extends HttpAgent {
  readonly connection: SshConnection;

  constructor(connection: SshConnection) {
    super({ keepAlive: true, maxSockets: MAX_SESSIONS });
    this.connection = connection;
  }

  override createConnection(
    _options: ClientRequestArgs,
    callback?: (error: Error | null, stream: Duplex) => void,
  ): undefined {
    this.connection.openConnection().then(
      (session) => callback?.(null, session),
      (error: Error) => callback?.(error, undefined as unknown as Duplex),
    );
    return undefined;
  }
}
