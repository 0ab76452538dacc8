/**
 * The route table: what the deployer writes for every proxy and what people write by hand.
 * The JSON Schema in `packages/proxy/route-table.schema.json` documents the same shape.
 */
export type BalanceStrategy = 'round-robin' | 'least-conn' | 'ip-hash';

export interface HealthCheckConfig {
  /**
   * Active checks: path requested on every upstream (with this virtual host's name as Host, the wildcard's
   * suffix for `*.name`); a 2xx or 3xx answer means healthy. No path, no active checks.
   */
  path?: string;
  /** Milliseconds between two checks of one upstream. Default 5000. */
  intervalMs?: number;
  /** Milliseconds a check may take before it counts as failed. Default 2000. */
  timeoutMs?: number;
  /** Passive checks: consecutive failed connects after which an upstream is skipped. Default 3. */
  maxFails?: number;
  /** Passive checks: how long a failing upstream is skipped, in ms. Default 10 000. */
  cooldownMs?: number;
}

export interface PathRouteConfig {
  /** find-my-way path pattern, e.g. `/api/*` or `/users/:id`. */
  path: string;
  methods?: string[];
  upstreams: string[];
  balance?: BalanceStrategy;
}

export interface VirtualHostConfig {
  /** Upstream origins, `http://host:port`. */
  upstreams: string[];
  balance?: BalanceStrategy;
  /** Path routes inside this virtual host; requests matching none go to `upstreams`. */
  routes?: PathRouteConfig[];
  health?: HealthCheckConfig;
  /**
   * HTTPS for this name on the TLS listener (`--listen-tls`): PEM certificate and key files (a relative path is
   * relative to the route table file's directory), or `"acme"` for a certificate obtained over ACME. A wildcard
   * host's certificate is served for every name it matches.
   */
  tls?: TlsFiles | 'acme';
  /** Plain-HTTP requests get 308 to the https URL (`/.well-known/acme-challenge/` excepted). */
  redirectHttps?: boolean;
  /** `Strict-Transport-Security` on responses to requests that came over TLS (never on plain HTTP). */
  hsts?: HstsConfig;
}

export interface TlsFiles {
  /** PEM certificate (chain: leaf first). */
  cert: string;
  /** PEM private key (RSA or ECDSA) matching the certificate. */
  key: string;
}

export interface HstsConfig {
  /** `max-age`, seconds. */
  maxAge: number;
  includeSubDomains?: boolean;
  preload?: boolean;
}

export interface RouteTableConfig {
  version: 1;
  /** Exact names (`webapp1.local`) and wildcards (`*.example.org`). */
  hosts: Record<string, VirtualHostConfig>;
  /** Replacement HTML for the unknown-host page; `{{host}}` is replaced by the HTML-escaped host. */
  errorPage?: string;
  /**
   * Replacement HTML for the other error pages, by status (`"400"`, `"404"`, `"421"`, `"502"`, `"503"`, `"504"`);
   * `{{host}}` and `{{status}}` are replaced. `errorPage` wins over `errorPages["404"]`.
   */
  errorPages?: Partial<Record<ErrorPageStatus, string>>;
  /**
   * The certificate for TLS handshakes without SNI or for a name no host has a certificate for; without it such
   * handshakes are refused (`unrecognized_name`).
   */
  defaultTls?: TlsFiles;
  /** Ignored: lets editors find the JSON Schema. */
  $schema?: string;
}

/** The statuses the proxy answers with its own page. */
export type ErrorPageStatus = '400' | '404' | '421' | '502' | '503' | '504';
