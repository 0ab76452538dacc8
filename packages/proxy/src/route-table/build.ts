/**
 * Turns a validated route table into the immutable structure the request path reads: a Map of exact names, a Map
 * of wildcard suffixes, per virtual host its upstream group and (only when it has path routes) a find-my-way
 * router, and the compiled error pages. Everything that can be decided per configuration is decided here, once
 * per reload, off the request path; the proxy then swaps one reference.
 *
 * find-my-way is used only inside a virtual host, never as the host table: its host constraint holds at most 31
 * hosts per route and matches the raw header (find-my-way issue 343), while a Map handles 10 000 hosts in O(1).
 */
import { METHODS } from 'node:http';
import { ErrorPages } from '../http/error-pages.js';
import type { HostStats, ProxyMetrics } from '../observe/metrics.js';
import { createUpstreamGroup, type UpstreamGroup } from '../upstream/balance.js';
import type { UpstreamClient } from '../upstream/client.js';
import {
  DEFAULT_CHECK_INTERVAL_MS,
  DEFAULT_CHECK_TIMEOUT_MS,
  startActiveChecks,
} from '../upstream/health.js';
import { type PassiveHealth, Upstream, type UpstreamPools } from '../upstream/pool.js';
import type { BAD_HOST, HostIndex } from './host.js';
import { createPathRouter } from './path-router.js';
import type { RouteTableConfig } from './types.js';
import { sameHost, type ValidatedHost, type ValidatedRouteTable } from './validate.js';

/** find-my-way, reduced to what routing inside a virtual host uses: the store of a match is the group. */
export interface PathRouter {
  find(method: string, path: string): { store: UpstreamGroup } | null;
}

export interface VirtualHost {
  /** The route-table key: metrics label, log name. */
  readonly key: string;
  /** Where requests go that match no path route (all of them when there are none). */
  readonly group: UpstreamGroup;
  /** Path routes, or null: the request path skips routing entirely for hosts without them. */
  readonly router: PathRouter | null;
  readonly stats: HostStats;
  /**
   * This host's upstreams, one per distinct origin (its default group's and its path routes'): how the next build
   * finds the state to carry over. An array, not a Map: a host names one or a few origins, and a 10 000-host
   * table should not hold 10 000 Maps.
   */
  readonly upstreams: readonly Upstream[];
  /** The validated entry it was built from: a reload with an identical entry keeps this object as it is. */
  readonly source: ValidatedHost;
  /** Plain-HTTP requests get a 308 to https (inbound/route.ts). */
  readonly redirectHttps: boolean;
  /** The `Strict-Transport-Security` value for responses over TLS, or null. */
  readonly hsts: string | null;
  /** The same as a header line (`strict-transport-security: ...` CRLF), for heads written as text. */
  readonly hstsLine: string | null;
}

export interface RouteTable extends HostIndex<VirtualHost> {
  readonly config: RouteTableConfig;
  readonly hosts: readonly VirtualHost[];
  /** Every Upstream of the table (one per host and origin), for health metrics and retiring. */
  readonly upstreams: readonly Upstream[];
  /** Virtual hosts by route-table key. */
  readonly byKey: ReadonlyMap<string, VirtualHost>;
  /** Distinct origins this table holds a pool reference for. */
  readonly origins: readonly string[];
  readonly pages: ErrorPages;
}

export interface BuildContext {
  pools: UpstreamPools;
  metrics: ProxyMetrics;
  /** Passive health settings for hosts whose route-table entry sets none. */
  passive: PassiveHealth;
  onUpstreamChange: (upstream: Upstream, up: boolean, why: string) => void;
}

/** The host's Upstream for `origin`, if it has one (a linear scan: a host names one or a few origins). */
export function upstreamOf(vhost: VirtualHost | undefined, origin: string): Upstream | undefined {
  if (vhost === undefined) return undefined;
  const list = vhost.upstreams;
  for (let i = 0; i < list.length; i++) if (list[i]!.origin === origin) return list[i];
  return undefined;
}

function checkHostHeader(host: ValidatedHost): string {
  // A wildcard has no single name; its suffix is a name the upstream is configured for.
  return host.name;
}

/** Builds the table; cannot fail for a validated input. Carries health and load state over from `previous`. */
export function buildRouteTable(
  validated: ValidatedRouteTable,
  previous: RouteTable | null,
  ctx: BuildContext,
): RouteTable {
  const exact = new Map<string, VirtualHost>();
  const wildcards = new Map<string, VirtualHost>();
  const hosts: VirtualHost[] = [];
  const upstreams: Upstream[] = [];
  const byKey = new Map<string, VirtualHost>();
  const pools = new Map<string, UpstreamClient>();

  for (const host of validated.hosts) {
    const before = previous?.byKey.get(host.key);
    if (before !== undefined && sameHost(before.source, host)) {
      // Unchanged (Traefik's rule): keep the built host, its groups, router and upstreams as they are. Only the
      // pool references are per table, and the defaults of passive health may have changed.
      for (const upstream of before.upstreams) {
        if (!pools.has(upstream.origin)) pools.set(upstream.origin, ctx.pools.acquire(upstream.origin));
        upstream.maxFails = host.health.maxFails ?? ctx.passive.maxFails;
        upstream.cooldownMs = host.health.cooldownMs ?? ctx.passive.cooldownMs;
        upstreams.push(upstream);
      }
      hosts.push(before);
      byKey.set(host.key, before);
      (host.wildcard ? wildcards : exact).set(host.name, before);
      continue;
    }
    const passive: PassiveHealth = {
      maxFails: host.health.maxFails ?? ctx.passive.maxFails,
      cooldownMs: host.health.cooldownMs ?? ctx.passive.cooldownMs,
    };
    const checkPath = host.health.path;
    const signature =
      checkPath === undefined
        ? ''
        : `${checkPath}\n${host.health.intervalMs ?? DEFAULT_CHECK_INTERVAL_MS}\n${host.health.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS}\n${checkHostHeader(host)}`;

    // One Upstream per (host, origin), shared by the host's default group and its path routes.
    const local: Upstream[] = [];
    const carried = previous?.byKey.get(host.key);
    const upstreamFor = (origin: string): Upstream => {
      for (const known of local) if (known.origin === origin) return known;
      let pool = pools.get(origin);
      if (pool === undefined) {
        pool = ctx.pools.acquire(origin); // one reference per table and origin, returned by retireRouteTable
        pools.set(origin, pool);
      }
      let upstream = upstreamOf(carried, origin);
      if (upstream === undefined) {
        upstream = new Upstream(host.key, origin, pool, passive);
      } else {
        upstream.maxFails = passive.maxFails;
        upstream.cooldownMs = passive.cooldownMs;
      }
      upstream.onChange = ctx.onUpstreamChange;
      upstream.stats = ctx.metrics.upstreamStatsFor(origin);
      if (upstream.checkSignature !== signature) {
        upstream.stopChecks?.();
        if (checkPath !== undefined) {
          startActiveChecks(upstream, {
            path: checkPath,
            intervalMs: host.health.intervalMs ?? DEFAULT_CHECK_INTERVAL_MS,
            timeoutMs: host.health.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS,
            host: checkHostHeader(host),
          });
        }
      }
      local.push(upstream);
      upstreams.push(upstream);
      return upstream;
    };

    const defaults = host.upstreams.map(upstreamFor);
    const group = createUpstreamGroup(defaults, host.balance, host.key);
    let router: PathRouter | null = null;
    if (host.routes.length > 0) {
      const fmw = createPathRouter();
      const noop = () => {};
      for (const route of host.routes) {
        const routeGroup = createUpstreamGroup(
          route.upstreams.map(upstreamFor),
          route.balance,
          `${host.key} ${route.path}`,
        );
        fmw.on((route.methods.length === 0 ? METHODS : route.methods) as never, route.path, noop, routeGroup);
      }
      router = fmw as unknown as PathRouter;
    }
    const vhost: VirtualHost = {
      key: host.key,
      group,
      router,
      stats: ctx.metrics.statsFor(host.key),
      // Without path routes the default group names every origin once (validated): share its exact-size array.
      upstreams: host.routes.length === 0 ? defaults : local.slice(),
      source: host,
      redirectHttps: host.redirectHttps,
      hsts: host.hsts,
      hstsLine: host.hsts === null ? null : `strict-transport-security: ${host.hsts}\r\n`,
    };
    hosts.push(vhost);
    byKey.set(host.key, vhost);
    (host.wildcard ? wildcards : exact).set(host.name, vhost);
  }

  // The document is only materialised when somebody asks (see parseRouteTable); the table keeps the function
  // that reads it, not `validated`, whose hosts are garbage once a reload kept every host as built.
  const readConfig = validated.readConfig;
  return {
    get config() {
      return readConfig();
    },
    exact,
    wildcards,
    memo: new Map<string, VirtualHost | null | typeof BAD_HOST>(),
    hosts,
    upstreams,
    byKey,
    origins: [...pools.keys()],
    pages: new ErrorPages(validated.errorPages),
  };
}

/**
 * Called once `next` serves instead of `old`: stops the health checks of upstreams `next` did not carry over,
 * returns `old`'s pool references (pools nobody uses any more drain and close) and drops the metric series of
 * removed hosts. In-flight requests keep their references to `old` objects and finish normally.
 */
export function retireRouteTable(old: RouteTable, next: RouteTable | null, ctx: BuildContext): void {
  for (const upstream of old.upstreams) {
    if (upstreamOf(next?.byKey.get(upstream.hostKey), upstream.origin) !== upstream) {
      upstream.stopChecks?.();
      upstream.onChange = null;
    }
  }
  for (const origin of old.origins) ctx.pools.release(origin);
  ctx.metrics.retainHosts(next?.byKey ?? new Map());
  ctx.metrics.retainUpstreams(next?.origins ?? []);
}
