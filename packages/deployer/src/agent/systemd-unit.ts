/**
 * The systemd unit of `nodix agent`, hardened: a dedicated user, no new privileges, the whole file system read-only
 * but the state directory, no home directories, a private /tmp, and of the capabilities only the one a proxy on
 * port 80 needs. `nodix agent print-unit` prints it for this installation; packages/deployer/systemd/ holds the
 * one for a global npm install (`/usr/local/bin/nodix`), made by the same function.
 */
export interface AgentUnitOptions {
  /** The command that runs nodix: `['/usr/local/bin/nodix']` or `[node, '/path/to/bin/nodix.js']`. */
  exec: string[];
  stateDir: string;
  tokenFile: string;
  listen: string;
  /** Listen on this Unix socket (coordinators come over SSH) instead of `listen` with `tokenFile`. */
  socket?: string;
  user: string;
}

export const DEFAULT_UNIT_STATE_DIR = '/var/lib/nodix';
export const DEFAULT_UNIT_USER = 'nodix';

/** A systemd command-line word: quoted when it holds anything but plain path characters. */
function unitWord(word: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  return `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%')}"`;
}

/** Hardening lines; packages/proxy/systemd/nodix-proxy.service carries the same (its test checks both). */
const HARDENING = [
  'NoNewPrivileges=yes',
  'ProtectSystem=strict',
  'ProtectHome=yes',
  'PrivateTmp=yes',
  'PrivateDevices=yes',
  'ProtectKernelTunables=yes',
  'ProtectKernelModules=yes',
  'ProtectKernelLogs=yes',
  'ProtectControlGroups=yes',
  'ProtectClock=yes',
  'ProtectHostname=yes',
  'RestrictSUIDSGID=yes',
  'RestrictRealtime=yes',
  'RestrictNamespaces=yes',
  'LockPersonality=yes',
  'SystemCallArchitectures=native',
  'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
  '# A proxy on port 80 (any port below 1024) needs this one capability, and nothing else.',
  'CapabilityBoundingSet=CAP_NET_BIND_SERVICE',
  'AmbientCapabilities=CAP_NET_BIND_SERVICE',
  'UMask=0077',
];

export function agentUnit(options: AgentUnitOptions): string {
  const execStart = [
    ...options.exec,
    'agent',
    '--state-dir',
    options.stateDir,
    ...(options.socket === undefined
      ? ['--token-file', options.tokenFile, '--listen', options.listen]
      : ['--socket', options.socket]),
  ]
    .map(unitWord)
    .join(' ');
  // Under /var/lib, systemd creates the state directory for the user (mode 0700) if it is missing.
  const stateDirectory = options.stateDir.startsWith('/var/lib/')
    ? [`StateDirectory=${options.stateDir.slice('/var/lib/'.length)}`, 'StateDirectoryMode=0700']
    : [];
  return [
    '# nodix agent: the API through which `nodix deploy` activates and supervises the services of this machine.',
    '# Made by `nodix agent print-unit`; see "Running an agent on a machine" in the README of @nodix/deployer.',
    '[Unit]',
    'Description=Nodix agent (deploys and supervises the services of this machine)',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `User=${options.user}`,
    `Group=${options.user}`,
    `ExecStart=${execStart}`,
    'Restart=on-failure',
    'RestartSec=2s',
    '# The services the agent starts outlive it, and the next agent adopts them: stopping or restarting the agent',
    '# (an upgrade) stops the agent alone. `nodix deploy --undeploy` stops the services.',
    'KillMode=process',
    ...stateDirectory,
    `ReadWritePaths=${unitWord(options.stateDir)}`,
    ...HARDENING,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
