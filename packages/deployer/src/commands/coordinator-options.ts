import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { readTokenFile } from '../agent/token.js';
import { UsageError } from '../errors.js';
import type { CommandIO } from './command.js';

/** Options of the commands that talk to agents or read the coordinator's generations. */
export const COORDINATOR_OPTIONS = {
  'state-dir': { type: 'string' },
  'token-file': { type: 'string' },
} as const;

export const COORDINATOR_OPTIONS_HELP = {
  stateDir:
    '      --state-dir DIR        where generations are kept (default $NODIX_STATE_DIR, else $XDG_STATE_HOME/nodix, else ~/.local/state/nodix)',
  tokenFile: '      --token-file FILE      bearer token for the agents (default $NODIX_AGENT_TOKEN)',
};

/** The coordinator's state directory, as an absolute path. */
export function coordinatorStateDir(io: CommandIO, option: string | undefined): string {
  if (option !== undefined) return resolve(io.cwd, option);
  if (io.env.NODIX_STATE_DIR) return resolve(io.cwd, io.env.NODIX_STATE_DIR);
  if (io.env.XDG_STATE_HOME) return join(io.env.XDG_STATE_HOME, 'nodix');
  return join(io.env.HOME ?? homedir(), '.local', 'state', 'nodix');
}

/** The agents' token: `--token-file`, else NODIX_AGENT_TOKEN, else none (agents started with --insecure). */
export async function agentToken(io: CommandIO, tokenFile: string | undefined): Promise<string | undefined> {
  if (tokenFile !== undefined) {
    try {
      return await readTokenFile(resolve(io.cwd, tokenFile));
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  const fromEnv = io.env.NODIX_AGENT_TOKEN?.trim();
  return fromEnv ? fromEnv : undefined;
}

/** A non-negative integer option, or a usage error naming it. */
export function integerOption(
  command: string,
  option: string,
  value: string | undefined,
): number | undefined {
  if (value === undefined) return undefined;
  if (/^-\d+$/.test(value))
    throw new UsageError(`${command}: ${option} ${value} is out of range (must be 0 or more)`);
  if (!/^\d+$/.test(value))
    throw new UsageError(`${command}: ${option} must be a non-negative integer, got '${value}'`);
  return Number(value);
}
