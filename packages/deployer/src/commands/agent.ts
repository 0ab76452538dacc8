import { join, resolve } from 'node:path';
import { createAgent } from '../agent/server.js';
import { AGENT_SOCKET_FILE } from '../agent/socket.js';
import { readTokenFile } from '../agent/token.js';
import { UsageError } from '../errors.js';
import { DEFAULT_AGENT_PORT } from '../plan/types.js';
import { agentConnectCommand } from './agent-connect.js';
import { agentInitCommand } from './agent-init.js';
import { agentPrintUnitCommand } from './agent-print-unit.js';
import type { Command } from './command.js';
import { parseCommandArgs, requireOption } from './parse-args.js';

const usage = `Usage: nodix agent --state-dir DIR --socket PATH [options]          reached over SSH
       nodix agent --state-dir DIR [--listen HOST:PORT] [--token-file FILE] [options]   reached over HTTP
       nodix agent connect [--state-dir DIR | --socket PATH]  relay stdin/stdout to the agent (see --help)
       nodix agent init --state-dir DIR [--force]     create the state directory and the token (see --help)
       nodix agent print-unit [options]               print a systemd unit for the agent (see --help)

Runs the agent of one target machine: an HTTP/JSON API through which 'nodix deploy' locks the target and
activates, deactivates and queries its services. With --socket it listens on a Unix socket only its user may open
(mode 0600, no TCP port, no token): coordinators reach it with 'ssh TARGET nodix agent connect' (clientInterface
'ssh'). With --listen it listens on TCP and every request carries the bearer token (clientInterface 'http'). Services run detached (logs in DIR/logs) and keep
running when the agent stops; the next agent started on the same DIR adopts them.

Options:
  --socket PATH          listen on this Unix socket instead of TCP (PATH 'default': DIR/agent.sock)
  --listen HOST:PORT     address of the API (default 127.0.0.1:${DEFAULT_AGENT_PORT}; use 0.0.0.0:${DEFAULT_AGENT_PORT} for remote coordinators)
  --state-dir DIR        where the agent keeps its state, service files and logs (required)
  --token-file FILE      bearer token every request must carry (else NODIX_AGENT_TOKEN)
  --insecure             run without a token; only allowed on a loopback address
  --service-host HOST    listen address of services whose config names none (default 0.0.0.0)
  -h, --help             this text

It stops on SIGINT or SIGTERM, leaving the services running.
`;

/** `HOST:PORT`, `[IPV6]:PORT`, or a bare port (on 127.0.0.1). */
export function parseListen(value: string, option = '--listen'): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value) ?? /^()()(\d+)$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`agent: ${option} must be HOST:PORT, got '${value}'`);
  }
  const host = match[1] ?? match[2] ?? '';
  return { host: host === '' ? '127.0.0.1' : host, port };
}

export const agentCommand: Command = {
  name: 'agent',
  summary: 'run the agent of one target machine (the API nodix deploy talks to)',
  usage,
  async run(argv, io) {
    if (argv[0] === 'init') return agentInitCommand.run(argv.slice(1), io);
    if (argv[0] === 'print-unit') return agentPrintUnitCommand.run(argv.slice(1), io);
    if (argv[0] === 'connect') return agentConnectCommand.run(argv.slice(1), io);
    const parsed = parseCommandArgs(agentCommand, argv, io, {
      listen: { type: 'string' },
      socket: { type: 'string' },
      'state-dir': { type: 'string' },
      'token-file': { type: 'string' },
      insecure: { type: 'boolean' },
      'service-host': { type: 'string' },
    });
    if (!parsed) return 0;
    const { values } = parsed;
    const stateDir = resolve(io.cwd, requireOption(agentCommand, values['state-dir'], '--state-dir'));
    const socket =
      values.socket === undefined
        ? undefined
        : values.socket === 'default'
          ? join(stateDir, AGENT_SOCKET_FILE)
          : resolve(io.cwd, values.socket);
    if (socket !== undefined) {
      const tcpOnly = (['listen', 'token-file', 'insecure'] as const).find(
        (key) => values[key] !== undefined,
      );
      if (tcpOnly) {
        throw new UsageError(
          `agent: --${tcpOnly} does not go with --socket (a socket agent has no TCP port and no token)`,
        );
      }
    }
    const { host, port } = parseListen(values.listen ?? `127.0.0.1:${DEFAULT_AGENT_PORT}`);
    const token =
      socket !== undefined
        ? undefined
        : values['token-file']
          ? await readTokenFile(resolve(io.cwd, values['token-file']))
          : io.env.NODIX_AGENT_TOKEN?.trim() || undefined;
    const agent = await createAgent({
      host,
      port,
      stateDir,
      ...(socket === undefined ? {} : { socket }),
      token,
      insecure: values.insecure ?? false,
      serviceHost: values['service-host'],
      log: (line) => io.stdout.write(`[agent] ${line}\n`),
    });
    io.stdout.write(`nodix agent listening on ${agent.url} (state ${stateDir})\n`);
    const signal = await new Promise<NodeJS.Signals>((done) => {
      process.once('SIGINT', () => done('SIGINT'));
      process.once('SIGTERM', () => done('SIGTERM'));
    });
    io.stdout.write(`[agent] ${signal}: stopping the API; services keep running\n`);
    await agent.close();
    return 0;
  },
};
