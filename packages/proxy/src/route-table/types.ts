/**
 * The route table: what the deployer writes for every proxy and what people write by hand.
 * The JSON Schema in `packages/proxy/route-table.schema.json` documents the same shape.
 */
export type BalanceStrategy = 'round-robin' | 'least-conn' | 'ip-hash';

export interface HealthCheckConfig {
  /** Path requested on every upstream; a 2xx or 3xx answer means healthy. */
  path?: string;
  /** Milliseconds between two checks of one upstream. */
  intervalMs?: number;
  /** Milliseconds a check may take before it counts as failed. */
  timeoutMs?: number;
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
}
