import type { RouteTableConfig, VirtualHostConfig } from '@nodix/proxy';

/** A virtual host's HTTPS keys in a route table (the TLS contract of issue 11, the proxy's format). */
export type VirtualHostTlsConfig = Pick<VirtualHostConfig, 'tls' | 'redirectHttps' | 'hsts'>;

/** A proxy instance's ACME settings in its config (from its target's properties), given as `--acme-*` flags. */
export interface ProxyAcmeConfig {
  directory?: string;
  email?: string;
  ca?: string;
}

/**
 * The manifest: the whole deployment, per target, as `nodix manifest` prints it and `nodix deploy` records it as a
 * generation. Pure data (JSON), so two manifests can be diffed by comparing `hash`es.
 */
export interface Manifest {
  version: 1;
  targets: Record<string, TargetManifest>;
}

/**
 * How the coordinator reaches a target's agent, as Disnix's `clientInterface`: over SSH (the system's OpenSSH runs
 * `nodix agent connect` on the target, which relays to the agent's Unix socket) or over the agent's HTTP port.
 */
export type AgentAddress = HttpAgentAddress | SshAgentAddress;

/** The agent's TCP port, with a bearer token (`clientInterface: 'http'`). Recorded without the field, as before. */
export interface HttpAgentAddress {
  clientInterface?: 'http';
  /** Host name or address the coordinator uses to reach the agent (target property `agentHost`, else `hostname`). */
  host: string;
  /** Target property `agentPort`, default `DEFAULT_AGENT_PORT`. */
  port: number;
}

/** `clientInterface: 'ssh'`: no agent port and no token; the SSH login is the authentication. */
export interface SshAgentAddress {
  clientInterface: 'ssh';
  /** `[user@]host[:port]`, as the target property `sshTarget` gives it (default: `hostname`). */
  sshTarget: string;
  /** The command that runs nodix on the target (target property `nodixCommand`), default `nodix`. */
  nodixCommand?: string;
  /** The agent's Unix socket on the target (property `agentSocket`); default: the one of its default state dir. */
  agentSocket?: string;
  /** Extra `ssh -o` options for this target (property `sshOptions`), e.g. `ProxyJump=bastion`. */
  sshOptions?: string[];
}

export function isSshAddress(address: AgentAddress): address is SshAgentAddress {
  return address.clientInterface === 'ssh';
}

export interface TargetManifest {
  name: string;
  /** The target's infrastructure properties, as given. */
  properties: Record<string, unknown>;
  agent: AgentAddress;
  /** Service instances placed on this target, keyed by service name. */
  services: Record<string, ServiceInstance>;
}

export interface DependencyAddress {
  target: string;
  /** The target's `hostname` property, else its name. */
  hostname: string;
  /** The dependency's resolved port on that target, when it has one. */
  port?: number;
}

export interface DependencyRef {
  service: string;
  /** Identity hashes of the dependency's instances (one per target it is placed on, duplicates once), sorted. */
  hashes: string[];
  /** Where the dependency can be reached, one entry per target it is placed on. */
  addresses: DependencyAddress[];
}

export interface ServiceInstance {
  name: string;
  /** Activation module: `webapp`, `proxy`, `process`. */
  type: string;
  target: string;
  /**
   * Identity: SHA-256 (hex) over (name, type, config, `dependsOn` identities and addresses, `connectsTo`
   * addresses, `routes`). Equal hash means nothing to redeploy; a changed route table changes the hash.
   */
  hash: string;
  /**
   * The service's free-form properties, resolved (`dnsName`, `port`, `command`, `env`, ...), keys sorted, JSON only.
   * `port` is the service's own, else its assigned one (`portAssign` + `-p`), else for a proxy the target's
   * `proxyPort` (default `DEFAULT_PROXY_PORT`). A service with a port also gets `bindHost`: its own, else the
   * target's `bindHost` property, else `DEFAULT_BIND_HOST`.
   */
  config: Record<string, unknown>;
  dependsOn: DependencyRef[];
  connectsTo: DependencyRef[];
  /**
   * For `type: 'proxy'` only: the route table in the proxy's documented format. A proxy that serves TLS also has
   * `config.tlsPort` (its `tlsPort`, else its target's `proxyTlsPort`, else 443) and, when a host it routes uses
   * `tls: 'acme'`, `config.acme` (its target's `acmeDirectory`, `acmeEmail`, `acmeCa`).
   */
  routes?: RouteTableConfig;
}

export const DEFAULT_AGENT_PORT = 7411;

/** Where a `proxy` service listens when neither it (`port`) nor its target (`proxyPort`) says. */
export const DEFAULT_PROXY_PORT = 80;

/** The address services listen on when neither they nor their target (`bindHost`) say: every interface. */
export const DEFAULT_BIND_HOST = '0.0.0.0';
