/**
 * The models, as their authors write them (Disnix's models in TypeScript). See `examples/virtualhosts` and
 * GUIDE §2. Every model file default-exports either the value or a function of the other models.
 */

/** The service types nodix has an activation module for. */
export const SERVICE_TYPES = ['webapp', 'proxy', 'process'] as const;
export type ServiceType = (typeof SERVICE_TYPES)[number];

/**
 * Target properties nodix itself reads; everything else is free-form (`capacity`, `zone`, ...) for qos filters.
 */
export interface TargetProperties {
  /** How the coordinator and other machines reach this target. Default: the target's name. */
  hostname?: string;
  /** Where this target's agent listens, as seen from the coordinator. Default: `hostname`. */
  agentHost?: string;
  /** Default: `DEFAULT_AGENT_PORT` (7411). */
  agentPort?: number;
  /**
   * How the coordinator reaches the agent, as Disnix's `clientInterface`: `'ssh'` (the system's `ssh` runs
   * `nodix agent connect` on the target; the default when `sshTarget` is given) or `'http'` (the agent's TCP port
   * and a bearer token; the default otherwise).
   */
  clientInterface?: 'ssh' | 'http';
  /** `[user@]host[:port]` for `ssh` (a `Host` alias of ~/.ssh/config works too). Default: `hostname`. */
  sshTarget?: string;
  /** How to run nodix on the target, as a shell command (default `nodix`), e.g. `/opt/nodix/bin/nodix`. */
  nodixCommand?: string;
  /** The agent's Unix socket on the target (`nodix agent --socket`); default: the one of /var/lib/nodix. */
  agentSocket?: string;
  /** Extra `ssh -o` options for this target, e.g. `['ProxyJump=bastion.example.org']`. */
  sshOptions?: string[];
  /**
   * The address services on this target listen on unless a service sets its own `bindHost`.
   * Default `0.0.0.0` (every interface); `127.0.0.1` when every target shares one machine.
   */
  bindHost?: string;
  /** The port a `proxy` service listens on when it sets no `port` itself. Default 80. */
  proxyPort?: number;
  /**
   * The port a `proxy` listens on for TLS (`--listen-tls`, on `bindHost`) when it sets no `tlsPort` itself and has a
   * certificate to serve (a host with `tls`, or `defaultTls`). Default 443. A property like `proxyPort`, not a pool
   * port: clients find HTTPS on a port they know.
   */
  proxyTlsPort?: number;
  /** The ACME directory URL this target's proxy orders certificates from (`--acme-directory`); default: the proxy's. */
  acmeDirectory?: string;
  /** The contact address of this target's ACME account (`--acme-email`). */
  acmeEmail?: string;
  /** A PEM file on the target: an extra CA to trust for the ACME directory's HTTPS (`--acme-ca`), e.g. Pebble's. */
  acmeCa?: string;
  [property: string]: unknown;
}

/** An infrastructure target as models see it: `name` is filled in from its key. */
export interface Target {
  name: string;
  properties: TargetProperties;
  [key: string]: unknown;
}

/** What an infrastructure model returns: target name to `{ properties }` (`name` may be omitted). */
export type InfrastructureSpec = Record<string, { properties?: TargetProperties; [key: string]: unknown }>;

export type Infrastructure = Record<string, Target>;

/** A reference to a service: its name or the service object itself. */
export type ServiceRef = string | { name: string };

export interface Service {
  /** Must equal the service's key in the services model. */
  name: string;
  /** Which activation module runs it: `webapp`, `proxy`, `process`. */
  type: ServiceType | (string & {});
  /** Activated before this service, and passed to it (addresses in the manifest). Must not form a cycle. */
  dependsOn?: ServiceRef[];
  /** Passed to this service like `dependsOn`, without ordering (cycles allowed). */
  connectsTo?: ServiceRef[];
  /** Virtual host name a `webapp` answers to and proxies route by. Unique per target. */
  dnsName?: string;
  /** TCP port the service listens on. Unique per target. */
  port?: number;
  /** Ask `nodix port-assign` for a port: from the one global pool or from the pool of each target it runs on. */
  portAssign?: 'shared' | 'private';
  /** Address to listen on; default: the target's `bindHost`. */
  bindHost?: string;
  /** Read by `keepPrevious`: the service stays on the targets it was on. */
  stateful?: boolean;
  bound?: boolean;
  /**
   * A virtual host's certificate, served by every proxy routing to it: `'acme'` (obtained and renewed by the proxy)
   * or PEM files on the target, absolute paths. Goes to the proxies' route tables, not to this service's config.
   */
  tls?: 'acme' | { cert: string; key: string };
  /** With `tls`: plain-HTTP requests are redirected (308) to https. */
  redirectHttps?: boolean;
  /** With `tls`: the Strict-Transport-Security header on HTTPS responses. */
  hsts?: { maxAge: number; includeSubDomains?: boolean; preload?: boolean };
  /** A proxy's TLS port; default its target's `proxyTlsPort`, else 443 (only when it has a certificate to serve). */
  tlsPort?: number;
  /** A proxy's certificate for handshakes with no or an unknown SNI name (otherwise: `unrecognized_name`). */
  defaultTls?: { cert: string; key: string };
  [property: string]: unknown;
}

export type Services = Record<string, Service>;

/**
 * A target in a distribution: its name or the target object from `infrastructure`. `undefined` is accepted by the
 * type so that `infrastructure.test1` needs no `!`; at run time it is reported as a target missing from the
 * infrastructure (which is what it almost always is).
 */
export type TargetRef = string | { name: string } | undefined;

/** Service name to the target(s) it runs on, as a distribution model or `nodix gendist` writes it. */
export type DistributionSpec = Record<string, TargetRef | TargetRef[]>;

/** A normalised distribution: service name to the targets it is placed on, in natural order. */
export type Distribution = Record<string, Target[]>;

/** A target together with the services placed on it (natural order). */
export interface InvTarget extends Target {
  services: Service[];
}

export type InvDistribution = Record<string, InvTarget>;

/** `--extra-params` JSON; also spread into every model function's argument. */
export type ExtraParams = Record<string, unknown>;

export interface InfrastructureModelArgs {
  extraParams: ExtraParams;
  [param: string]: unknown;
}

export interface DistributionModelArgs {
  infrastructure: Infrastructure;
  extraParams: ExtraParams;
  [param: string]: unknown;
}

export interface ServicesModelArgs {
  infrastructure: Infrastructure;
  distribution: Distribution;
  invDistribution: InvDistribution;
  /** Assigned ports from `-p ports.json` (the `ports` object of `nodix port-assign`'s output); `{}` without it. */
  ports: Record<string, number>;
  extraParams: ExtraParams;
  [param: string]: unknown;
}

export type Model<T, A> = T | ((args: A) => T | Promise<T>);

export type InfrastructureModel = Model<InfrastructureSpec, InfrastructureModelArgs>;
export type DistributionModel = Model<DistributionSpec, DistributionModelArgs>;
export type ServicesModel = Model<Services, ServicesModelArgs>;
