/**
 * Choosing an upstream: round-robin (default), least-conn, ip-hash (the original nginx used ip_hash).
 *
 * hot path — change with care: `pick` runs once per request. A group is built once per route table, so the
 * strategy is resolved to a method at construction instead of being switched on per request, and a group with
 * a single upstream never looks at the strategy at all.
 */
import type { BalanceStrategy } from './route-table/types.js';
import type { Upstream } from './upstream-pool.js';

export class UpstreamGroup {
  readonly upstreams: readonly Upstream[];
  readonly strategy: BalanceStrategy;
  /** Host (or `host path`) label for logs and errors. */
  readonly label: string;
  /** The picker for this strategy; `exclude` is the upstream that just failed (a retry goes elsewhere). */
  readonly pick: (clientAddress: string, exclude: Upstream | null) => Upstream | null;
  #next = 0;

  constructor(upstreams: readonly Upstream[], strategy: BalanceStrategy, label: string) {
    if (upstreams.length === 0) throw new TypeError('UpstreamGroup: at least one upstream is required');
    this.upstreams = upstreams;
    this.strategy = strategy;
    this.label = label;
    this.pick =
      upstreams.length === 1
        ? this.#pickOnly
        : strategy === 'least-conn'
          ? this.#pickLeastConn
          : strategy === 'ip-hash'
            ? this.#pickIpHash
            : this.#pickRoundRobin;
  }

  #pickOnly = (_client: string, exclude: Upstream | null): Upstream | null => {
    const only = this.upstreams[0]!;
    return only !== exclude && only.available() ? only : null;
  };

  #pickRoundRobin = (_client: string, exclude: Upstream | null): Upstream | null => {
    const list = this.upstreams;
    const n = list.length;
    for (let tries = 0; tries < n; tries++) {
      const candidate = list[this.#next]!;
      this.#next = this.#next + 1 === n ? 0 : this.#next + 1;
      if (candidate !== exclude && candidate.available()) return candidate;
    }
    return null;
  };

  #pickLeastConn = (_client: string, exclude: Upstream | null): Upstream | null => {
    const list = this.upstreams;
    const n = list.length;
    // Start the scan where the last one left off so that ties rotate instead of piling onto the first upstream.
    const start = this.#next;
    this.#next = start + 1 === n ? 0 : start + 1;
    let best: Upstream | null = null;
    for (let i = 0; i < n; i++) {
      const candidate = list[(start + i) % n]!;
      if (candidate === exclude || !candidate.available()) continue;
      if (best === null || candidate.active < best.active) best = candidate;
    }
    return best;
  };

  #pickIpHash = (client: string, exclude: Upstream | null): Upstream | null => {
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
  };
}
