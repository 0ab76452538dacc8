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
}

export interface RouteTableConfig {
  version: 1;
  /** Exact names (`webapp1.local`) and wildcards (`*.example.org`). */
  hosts: Record<string, VirtualHostConfig>;
  /** Replacement HTML for the unknown-host page; `{{host}}` is replaced by the HTML-escaped host. */
  errorPage?: string;
  /**
   * Replacement HTML for the other error pages, by status (`"400"`, `"404"`, `"502"`, `"503"`, `"504"`);
   * `{{host}}` and `{{status}}` are replaced. `errorPage` wins over `errorPages["404"]`.
   */
  errorPages?: Partial<Record<ErrorPageStatus, string>>;
  /** Ignored: lets editors find the JSON Schema. */
  $schema?: string;
}

/** The statuses the proxy answers with its own page. */
export type ErrorPageStatus = '400' | '404' | '502' | '503' | '504';
