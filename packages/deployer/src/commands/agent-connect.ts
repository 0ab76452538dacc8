import { connect, type Socket } from 'node:net';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import {
  DEFAULT_CONNECT_STATE_DIR,
  EXIT_NO_AGENT,
  EXIT_SOCKET_PERMISSION,
  socketOfStateDir,
} from '../agent/socket.js';
import { NodixError, UsageError } from '../errors.js';
import type { Command, CommandIO } from './command.js';
import { parseCommandArgs } from './parse-args.js';

const usage = `Usage: nodix agent connect [--state-dir DIR | --socket PATH] [--check]

Relays standard input and output to the agent of this machine through its Unix socket: what a coordinator runs
over SSH (ssh TARGET nodix agent connect) to speak the agent API without an agent TCP port or token. The socket is
the one the agent holding DIR listens on (its lock file says where), else PATH; default: --state-dir ${DEFAULT_CONNECT_STATE_DIR}.

Options:
  --state-dir DIR        the agent's state directory (default ${DEFAULT_CONNECT_STATE_DIR})
  --socket PATH          the agent's socket (as given to nodix agent --socket)
  --check                relay nothing: check that the agent's socket can be opened and print its path (what a
                         coordinator runs once per target before forwarding its requests to that socket over SSH)
  -h, --help             this text

Exit codes: 0 when the agent or the other side closed the stream; ${EXIT_NO_AGENT} when no agent listens on the socket;
${EXIT_SOCKET_PERMISSION} when this user may not open it; 2 for usage errors.
`;

/** Where the relay reads from: the command's stdin (tests pass their own). */
export interface ConnectIO extends CommandIO {
  stdin?: Readable;
}

function open(path: string): Promise<Socket> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolvePromise(socket);
    });
    socket.once('error', reject);
  });
}

export const agentConnectCommand: Command = {
  name: 'agent connect',
  summary: "relay stdin/stdout to this machine's agent socket (run by coordinators over SSH)",
  usage,
  async run(argv, io: ConnectIO) {
    const parsed = parseCommandArgs(agentConnectCommand, argv, io, {
      'state-dir': { type: 'string' },
      socket: { type: 'string' },
      check: { type: 'boolean' },
    });
    if (!parsed) return 0;
    const { values } = parsed;
    if (values.socket !== undefined && values['state-dir'] !== undefined) {
      throw new UsageError('agent connect: give --state-dir or --socket, not both');
    }
    let path: string;
    if (values.socket !== undefined) path = resolve(io.cwd, values.socket);
    else {
      const stateDir = resolve(io.cwd, values['state-dir'] ?? DEFAULT_CONNECT_STATE_DIR);
      const found = await socketOfStateDir(stateDir);
      if ('tcp' in found) {
        io.stderr.write(
          `nodix: the nodix agent on this machine (state ${stateDir}) listens on TCP ${found.tcp}, not on a Unix socket: start it with --socket to reach it over SSH\n`,
        );
        return EXIT_NO_AGENT;
      }
      path = 'socket' in found ? found.socket : found.none;
    }
    let socket: Socket;
    try {
      socket = await open(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') {
        io.stderr.write(
          `nodix: cannot open the nodix agent's socket ${path}: permission denied (log in as the agent's user)\n`,
        );
        return EXIT_SOCKET_PERMISSION;
      }
      io.stderr.write(
        `nodix: no nodix agent is running on this machine (socket ${path}): start it with systemctl start nodix-agent or nodix agent --socket ${path} --state-dir DIR\n`,
      );
      return EXIT_NO_AGENT;
    }
    if (values.check) {
      socket.destroy();
      io.stdout.write(`${path}\n`);
      return 0;
    }
    return relay(socket, io.stdin ?? process.stdin, process.stdout);
  },
};

/**
 * Bytes both ways until the agent closes: the end of stdin half-closes the socket (the agent still answers what it
 * was sent), the end of the socket ends the relay even while stdin stays open.
 */
function relay(socket: Socket, input: Readable, output: NodeJS.WritableStream): Promise<number> {
  return new Promise((done) => {
    input.pipe(socket);
    socket.pipe(output, { end: false });
    const finish = () => {
      input.unpipe(socket);
      input.pause();
      // stdin may be a pipe the other side keeps open: stop reading it so that the process can exit.
      (input as Readable & { destroy?: () => void }).destroy?.();
      done(0);
    };
    socket.once('close', finish);
    socket.once('error', () => socket.destroy());
    input.once('error', () => socket.destroy());
  });
}

/** `nodix agent connect` without the rest of the CLI (see bin.ts): the same one-line errors and exit codes as main(). */
export async function runAgentConnect(argv: string[], io: CommandIO): Promise<number> {
  try {
    return await agentConnectCommand.run(argv, io);
  } catch (error) {
    if (!(error instanceof NodixError)) throw error;
    io.stderr.write(`nodix: ${error.message}\n`);
    return error.exitCode;
  }
}
