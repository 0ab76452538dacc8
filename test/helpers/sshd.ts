import type { ChildProcess } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, startUntil, stopChild } from './run.js';

/**
 * Real OpenSSH for the SSH client interface tests: an `sshd` per target with its own configuration, host key and
 * authorised key (made for the run, in the test's directory), and the coordinator's side: a key pair, an ssh_config
 * and a known_hosts file that the test writes, given to nodix with `--ssh-config`. Nothing of the machine's own
 * ssh setup (~/.ssh, /etc/ssh) is read or changed.
 */
export const SSHD = '/usr/sbin/sshd';

export async function keygen(path: string, comment: string): Promise<string> {
  const result = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], {
    timeoutMs: 30_000,
  });
  if (result.code !== 0) throw new Error(`ssh-keygen failed: ${result.stderr}`);
  return (await readFile(`${path}.pub`, 'utf8')).trim();
}

export interface SshClientSetup {
  dir: string;
  /** The ssh_config to pass with --ssh-config. */
  config: string;
  knownHosts: string;
  publicKey: string;
  /**
   * An ssh_config like `config` but with an identity no target authorises: what a coordinator whose key was
   * never installed (or was revoked) runs into.
   */
  unauthorisedConfig(): Promise<string>;
  /** Adds `host`'s key to known_hosts (`host` as the coordinator names it; `[host]:port` for another port). */
  trust(host: string, hostKey: string): Promise<void>;
}

/** The coordinator's ssh setup: its key, an empty known_hosts, a config naming both. */
export async function createSshClient(work: string): Promise<SshClientSetup> {
  const dir = join(work, 'ssh-client');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const identity = join(dir, 'id_ed25519');
  const publicKey = await keygen(identity, 'nodix-test-coordinator');
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(knownHosts, '', { mode: 0o600 });
  const config = join(dir, 'config');
  await writeFile(
    config,
    [
      'Host *',
      '  User root',
      `  IdentityFile ${identity}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${knownHosts}`,
      '  GlobalKnownHostsFile /dev/null',
      '  LogLevel ERROR',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return {
    dir,
    config,
    knownHosts,
    publicKey,
    async unauthorisedConfig() {
      const other = join(dir, 'id_unauthorised');
      await keygen(other, 'nodix-test-unauthorised');
      const path = join(dir, 'config-unauthorised');
      const text = (await readFile(config, 'utf8')).replace(
        `IdentityFile ${identity}`,
        `IdentityFile ${other}`,
      );
      await writeFile(path, text, { mode: 0o600 });
      return path;
    },
    async trust(host, hostKey) {
      const [type, key] = hostKey.split(' ');
      const existing = await readFile(knownHosts, 'utf8');
      await writeFile(knownHosts, `${existing}${host} ${type} ${key}\n`);
    },
  };
}

export interface Sshd {
  pid: number;
  /** The host's public key, `ssh-ed25519 AAAA... comment`. */
  hostKey: string;
  /** sshd's log so far (-e: to stderr). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts `sshd -D -e` with a configuration of its own: listening on `address:port`, its own host key, the client's key
 * as the only authorised one, no PAM, no passwords. `on` wraps the command (ip netns exec) to run it on a machine.
 */
export async function startSshd(options: {
  dir: string;
  address: string;
  port: number;
  authorizedKey: string;
  on?: (command: string, args: string[]) => [string, string[]];
}): Promise<Sshd> {
  const { dir } = options;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Privilege separation needs this directory (made by the Debian package's service, which does not run here).
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  await chmod('/run/sshd', 0o755);
  const hostKeyPath = join(dir, 'ssh_host_ed25519_key');
  const hostKey = await keygen(hostKeyPath, 'nodix-test-host');
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, `${options.authorizedKey}\n`, { mode: 0o600 });
  const config = join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `ListenAddress ${options.address}:${options.port}`,
      `HostKey ${hostKeyPath}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      // The test's temporary directories are not laid out the way StrictModes wants a home directory.
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin prohibit-password',
      'MaxSessions 10',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  const argv: [string, string[]] = [SSHD, ['-D', '-e', '-f', config]];
  const [command, args] = options.on ? options.on(...argv) : argv;
  const { child, output } = await startUntil(command, args, /Server listening on/);
  return {
    pid: child.pid as number,
    hostKey,
    log: output,
    stop: () => stopChild(child as ChildProcess),
  };
}
