/**
 * Choosing an upstream: round-robin (default), least-conn, ip-hash (the original nginx used ip_hash).
 *
 * hot path — change with care: `pick` runs once per request. The strategy is resolved once per route-table build
 * by choosing the class (`createUpstreamGroup`), so no request switches on it, and a group with one upstream never
 * looks at the strategy at all. Classes rather than per-instance closures: a 10 000-host table builds 10 000
 * groups, and prototype methods cost nothing per group.
 */
import type { BalanceStrategy } from '../route-table/types.js';
import type { Upstream } from './pool.js';

export abstract class UpstreamGroup {
  readonly upstreams: readonly Upstream[];
  readonly strategy: BalanceStrategy;
  /** Host (or `host path`) label for logs and errors. */
  readonly label: string;
  protected next = 0;

  constructor(upstreams: readonly Upstream[], strategy: BalanceStrategy, label: string) {
    if (upstreams.length === 0) throw new TypeError('UpstreamGroup: at least one upstream is required');
    this.upstreams = upstreams;
    this.strategy = strategy;
    this.label = label;
  }

  /** An available upstream, never `exclude` (the one that just failed: a retry goes elsewhere); null if none. */
  abstract pick(clientAddress: string, exclude: Upstream | null): Upstream | null;
}

class SingleUpstream extends UpstreamGroup {
  pick(_client: string, exclude: Upstream | null): Upstream | null {
    const only = this.upstreams[0]!;
    return only !== exclude && only.available() ? only : null;
  }
}

class RoundRobin extends UpstreamGroup {
  pick(_client: string, exclude: Upstream | null): Upstream | null {
    const list = this.upstreams;
    const n = list.length;
    for (let tries = 0; tries < n; tries++) {
      const candidate = list[this.next]!;
      this.next = this.next + 1 === n ? 0 : this.next + 1;
      if (candidate !== exclude && candidate.available()) return candidate;
    }
    return null;
  }
}

class LeastConn extends UpstreamGroup {
  pick(_client: string, exclude: Upstream | null): Upstream | null {
    const list = this.upstreams;
    const n = list.length;
    // Start the scan where the last one left off so that ties rotate instead of piling onto the first upstream.
    const start = this.next;
    this.next = start + 1 === n ? 0 : start + 1;
    let best: Upstream | null = null;
    for (let i = 0; i < n; i++) {
      const candidate = list[(start + i) % n]!;
      if (candidate === exclude || !candidate.available()) continue;
      if (best === null || candidate.active < best.active) best = candidate;
    }
    return best;
  }
}

class IpHash extends UpstreamGroup {
  pick(client: string, exclude: Upstream | null): Upstream | null {
    const list = this.upstreams;
    const n = list.length;
    // FNV-1a over the address: stable across processes and reloads, so one client keeps its upstream (as long
    // as the upstream list is unchanged and healthy); an unavailable one passes the client to the next in order.
    let hash = 0x811c9dc5;
    for (let i = 0; i < client.length; i++) {
      hash ^= client.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193);
    }
    const first = (hash >>> 0) % n;
    for (let i = 0; i < n; i++) {
      const candidate = list[(first + i) % n]!;
      if (candidate !== exclude && candidate.available()) return candidate;
    }
    return null;
  }
}

export function createUpstreamGroup(
  upstreams: readonly Upstream[],
  strategy: BalanceStrategy,
  label: string,
): UpstreamGroup {
  if (upstreams.length === 1) return new SingleUpstream(upstreams, strategy, label);
  if (strategy === 'least-conn') return new LeastConn(upstreams, strategy, label);
  if (strategy === 'ip-hash') return new IpHash(upstreams, strategy, label);
  return new RoundRobin(upstreams, strategy, label);
}
