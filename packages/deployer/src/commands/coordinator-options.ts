import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { readTokenFile } from '../agent/token.js';
import { UsageError } from '../errors.js';
import type { SshSettings } from '../execute/ssh.js';
import { shellQuote } from '../shell-quote.js';
import type { CommandIO } from './command.js';

/** Options of the commands that talk to agents or read the coordinator's generations. */
export const COORDINATOR_OPTIONS = {
  'state-dir': { type: 'string' },
  'token-file': { type: 'string' },
  'ssh-config': { type: 'string' },
  'ssh-option': { type: 'string', multiple: true },
} as const;

export const COORDINATOR_OPTIONS_HELP = {
  stateDir:
    '      --state-dir DIR        where generations are kept (default $NODIX_STATE_DIR, else $XDG_STATE_HOME/nodix, else ~/.local/state/nodix)',
  tokenFile: '      --token-file FILE      bearer token for the agents (default $NODIX_AGENT_TOKEN)',
  sshConfig:
    '      --ssh-config FILE      ssh -F FILE for targets reached over SSH (default $NODIX_SSH_CONFIG; ssh client: $NODIX_SSH)',
  sshOption:
    "      --ssh-option OPT=VAL   an ssh -o option for targets reached over SSH (repeatable; a target's sshOptions win)",
};

/** How to run ssh: `--ssh-config` (else NODIX_SSH_CONFIG), `--ssh-option`s, the client NODIX_SSH (else `ssh`). */
export function sshSettings(
  io: CommandIO,
  values: { 'ssh-config'?: string | undefined; 'ssh-option'?: string[] | undefined },
): SshSettings {
  const options = values['ssh-option'] ?? [];
  for (const option of options) {
    if (!/^[A-Za-z][A-Za-z0-9]*[= ]\S/.test(option)) {
      throw new UsageError(`--ssh-option must be OPTION=VALUE (as ssh -o takes it), got '${option}'`);
    }
  }
  const configFile = values['ssh-config'] ?? (io.env.NODIX_SSH_CONFIG || undefined);
  return {
    command: io.env.NODIX_SSH || 'ssh',
    options,
    ...(configFile === undefined ? {} : { configFile: resolve(io.cwd, configFile) }),
  };
}

/** The ssh settings as arguments of a command printed for the user to run (the resume command of a failed deploy). */
export function sshResumeArguments(ssh: SshSettings): string[] {
  return [
    ...(ssh.configFile === undefined ? [] : [`--ssh-config ${shellQuote(ssh.configFile)}`]),
    ...ssh.options.map((option) => `--ssh-option ${shellQuote(option)}`),
  ];
}

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
