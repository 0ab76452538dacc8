import { randomBytes } from 'node:crypto';
import { chmod, open, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../agent/atomic-file.js';
import { makeStateDir } from '../agent/state-dir.js';
import { FileError, UsageError } from '../errors.js';
import { DEFAULT_AGENT_PORT } from '../plan/types.js';
import { parseListen } from './agent.js';
import type { Command } from './command.js';
import { parseCommandArgs, requireOption } from './parse-args.js';

const usage = `Usage: nodix agent init --state-dir DIR [--token-file FILE] [--listen HOST:PORT] [--name NAME] [--force]

Prepares a machine for 'nodix agent': creates the state directory (mode 0700) and a random token (mode 0600),
then prints the command that starts the agent and the entry to put in the infrastructure model on the coordinator.
An existing token is kept: --force replaces it (every coordinator must then get the new one).

Options:
  --state-dir DIR        the agent's state directory (required), e.g. /var/lib/nodix
  --token-file FILE      where to write the token (default DIR/token)
  --listen HOST:PORT     the address the agent will listen on, for the printed lines (default 0.0.0.0:${DEFAULT_AGENT_PORT})
  --name NAME            the target's name in the infrastructure model (default this machine's host name)
  --force                replace an existing token
  -h, --help             this text
`;

export const agentInitCommand: Command = {
  name: 'agent init',
  summary: 'create the state directory and token of an agent',
  usage,
  async run(argv, io) {
    const parsed = parseCommandArgs(agentInitCommand, argv, io, {
      'state-dir': { type: 'string' },
      'token-file': { type: 'string' },
      listen: { type: 'string' },
      name: { type: 'string' },
      force: { type: 'boolean' },
    });
    if (!parsed) return 0;
    const { values } = parsed;
    const stateDir = resolve(io.cwd, requireOption(agentInitCommand, values['state-dir'], '--state-dir'));
    const tokenFile = resolve(io.cwd, values['token-file'] ?? join(stateDir, 'token'));
    const listen = values.listen ?? `0.0.0.0:${DEFAULT_AGENT_PORT}`;
    const { port } = parseListen(listen);
    const name = values.name ?? hostname();

    const exists = await stat(tokenFile).then(
      () => true,
      () => false,
    );
    if (exists && !values.force) {
      throw new UsageError(
        `agent init: ${tokenFile} exists; keep it, or give --force to replace it (coordinators then need the new token)`,
      );
    }
    await makeStateDir(stateDir);
    // An existing directory too: the agent keeps its state and service logs there, for its user alone.
    await chmod(stateDir, 0o700);
    const token = `${randomBytes(32).toString('hex')}\n`;
    try {
      if (exists) await writeFileAtomic(tokenFile, token, 0o600);
      else {
        // O_EXCL: a token written meanwhile by someone else is not overwritten.
        const handle = await open(tokenFile, 'wx', 0o600);
        await handle.writeFile(token);
        await handle.close();
      }
    } catch (error) {
      throw new FileError(tokenFile, `cannot be written: ${(error as NodeJS.ErrnoException).code ?? error}`, {
        cause: error,
      });
    }

    io.stdout.write(
      [
        `${exists ? 'replaced the token' : 'created'} ${tokenFile} (mode 0600) in ${stateDir} (mode 0700)`,
        '',
        'Start the agent (as the user that owns the state directory):',
        `  nodix agent --state-dir ${stateDir} --token-file ${tokenFile} --listen ${listen}`,
        'or run it under systemd:',
        `  nodix agent print-unit --state-dir ${stateDir} --token-file ${tokenFile} --listen ${listen} > /etc/systemd/system/nodix-agent.service`,
        '',
        'On the coordinator, copy the token (e.g. scp it to ~/.config/nodix/token, mode 0600) and deploy with',
        "--token-file (or NODIX_AGENT_TOKEN). This machine's entry in the infrastructure model:",
        `  ${JSON.stringify(name)}: {`,
        '    properties: {',
        `      hostname: ${JSON.stringify(name)}, // how the coordinator and the other machines reach this one`,
        `      agentPort: ${port},`,
        '    },',
        '  },',
        '',
      ].join('\n'),
    );
    return 0;
  },
};
