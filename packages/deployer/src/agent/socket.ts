import { chmod, lstat, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { AgentConfigError } from './errors.js';
import { AGENT_LOCK_FILE, makeStateDir } from './state-dir.js';

/**
 * The agent's Unix socket, the way coordinators reach it over SSH (`ssh TARGET nodix agent connect`): no TCP port and
 * no token; the SSH login authenticates, the socket's permissions (0600, in a 0700 directory, owned by the agent's
 * user) authorise.
 */

/** Its name inside the state directory when `--socket` names no path of its own. */
export const AGENT_SOCKET_FILE = 'agent.sock';

/** The state directory of the packaged systemd unit, where `nodix agent connect` looks when given nothing. */
export const DEFAULT_CONNECT_STATE_DIR = '/var/lib/nodix';

/**
 * Exit codes of `nodix agent connect` that the coordinator tells apart (sysexits.h): no agent listens on the socket
 * (EX_UNAVAILABLE), the socket may not be opened by this user (EX_NOPERM). A shell answers 127 when `nodix` is missing.
 */
export const EXIT_NO_AGENT = 69;
export const EXIT_SOCKET_PERMISSION = 77;

/** The socket of the agent holding `stateDir`, as its lock file says (`listen: "unix:PATH"`), else the default name. */
export async function socketOfStateDir(
  stateDir: string,
): Promise<{ socket: string } | { tcp: string } | { none: string }> {
  let listen: unknown;
  try {
    listen = (JSON.parse(await readFile(join(stateDir, AGENT_LOCK_FILE), 'utf8')) as { listen?: unknown })
      .listen;
  } catch {
    // No agent holds the directory (or it cannot be read): the default place is where one would be.
    return { socket: join(stateDir, AGENT_SOCKET_FILE) };
  }
  if (typeof listen === 'string' && listen.startsWith('unix:')) return { socket: listen.slice(5) };
  if (typeof listen === 'string') return { tcp: listen };
  return { none: join(stateDir, AGENT_SOCKET_FILE) };
}

function isListening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Makes `path` ready to be listened on: its directory exists (created 0700), and a socket file left by an agent that
 * died is removed. A live socket or anything that is not a socket is refused with one line.
 */
export async function prepareSocketPath(path: string): Promise<void> {
  await makeStateDir(dirname(path));
  const info = await lstat(path).catch(() => undefined);
  if (info === undefined) return;
  if (!info.isSocket()) throw new AgentConfigError(`agent: --socket ${path}: exists and is not a socket`);
  if (await isListening(path)) {
    throw new AgentConfigError(`agent: --socket ${path}: another agent listens on it`);
  }
  await rm(path, { force: true });
}

/** Restricts the socket to its owner (listen() made it under umask 0177 already; this covers other umask paths). */
export async function restrictSocket(path: string): Promise<void> {
  await chmod(path, 0o600);
}
