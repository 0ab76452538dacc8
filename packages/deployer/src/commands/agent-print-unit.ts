import { fileURLToPath } from 'node:url';
import { agentUnit, DEFAULT_UNIT_STATE_DIR, DEFAULT_UNIT_USER } from '../agent/systemd-unit.js';
import { UsageError } from '../errors.js';
import { DEFAULT_AGENT_PORT } from '../plan/types.js';
import { parseListen } from './agent.js';
import type { Command } from './command.js';
import { parseCommandArgs } from './parse-args.js';

/** This installation's bin: `bin/nodix.js` beside `src/` and `dist/` alike. */
const THIS_BIN = fileURLToPath(new URL('../../bin/nodix.js', import.meta.url));

const usage = `Usage: nodix agent print-unit [--state-dir DIR] [--socket PATH | --token-file FILE --listen HOST:PORT] [--user USER] [--exec PATH]

Prints a hardened systemd unit that runs 'nodix agent' (a dedicated user, NoNewPrivileges, ProtectSystem=strict
with only the state directory writable, ProtectHome, PrivateTmp, only CAP_NET_BIND_SERVICE, Restart=on-failure).
Install it with:
  nodix agent print-unit > /etc/systemd/system/nodix-agent.service
  systemctl daemon-reload && systemctl enable --now nodix-agent

Options:
  --state-dir DIR        the agent's state directory (default ${DEFAULT_UNIT_STATE_DIR})
  --token-file FILE      its token (default DIR/token; make both with 'nodix agent init')
  --listen HOST:PORT     the API's address (default 0.0.0.0:${DEFAULT_AGENT_PORT})
  --socket PATH          listen on a Unix socket instead, for coordinators that come over SSH ('default': DIR/agent.sock)
  --user USER            the user (and group) the agent and its services run as (default ${DEFAULT_UNIT_USER})
  --exec PATH            the nodix command to run (default: this installation, run by this node)
  -h, --help             this text
`;

export const agentPrintUnitCommand: Command = {
  name: 'agent print-unit',
  summary: 'print a systemd unit for the agent',
  usage,
  async run(argv, io) {
    const parsed = parseCommandArgs(agentPrintUnitCommand, argv, io, {
      'state-dir': { type: 'string' },
      'token-file': { type: 'string' },
      listen: { type: 'string' },
      socket: { type: 'string' },
      user: { type: 'string' },
      exec: { type: 'string' },
    });
    if (!parsed) return 0;
    const { values } = parsed;
    // systemd wants absolute paths: a relative one would mean something else to it than to this shell.
    const absolute = (option: string, value: string | undefined): string | undefined => {
      if (value !== undefined && !value.startsWith('/'))
        throw new UsageError(`agent print-unit: ${option} must be an absolute path, got '${value}'`);
      return value;
    };
    const stateDir = (absolute('--state-dir', values['state-dir']) ?? DEFAULT_UNIT_STATE_DIR).replace(
      /(.)\/+$/,
      '$1',
    );
    const tokenFile = absolute('--token-file', values['token-file']) ?? `${stateDir}/token`;
    const listen = values.listen ?? `0.0.0.0:${DEFAULT_AGENT_PORT}`;
    parseListen(listen);
    const socket =
      values.socket === 'default' ? `${stateDir}/agent.sock` : absolute('--socket', values.socket);
    if (socket !== undefined && (values.listen !== undefined || values['token-file'] !== undefined)) {
      throw new UsageError('agent print-unit: --socket does not go with --listen or --token-file');
    }
    const user = values.user ?? DEFAULT_UNIT_USER;
    if (!/^[a-z_][a-z0-9_-]*$/i.test(user))
      throw new UsageError(`agent print-unit: --user must be a user name, got '${user}'`);
    const exec = absolute('--exec', values.exec);
    if (exec === undefined && /^\/(home|root)(\/|$)/.test(THIS_BIN)) {
      io.stderr.write(
        `nodix: warning: ${THIS_BIN} is under a home directory, which ProtectHome=yes hides from the agent; install nodix elsewhere (e.g. npm install -g) or pass --exec\n`,
      );
    }
    io.stdout.write(
      agentUnit({
        exec: exec === undefined ? [process.execPath, THIS_BIN] : [exec],
        stateDir,
        tokenFile,
        listen,
        ...(socket === undefined ? {} : { socket }),
        user,
      }),
    );
    return 0;
  },
};
