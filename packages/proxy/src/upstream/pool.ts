/**
 * Upstream connection pools and per-upstream health state.
 *
 * One UpstreamClient (upstream/client.ts) per origin, shared by every virtual host and path route that names it
 * and kept across route table swaps, so a reload keeps the warm keep-alive connections of every upstream it did not remove. A pool is
 * reference-counted by the tables that use it; when the last one is retired the pool is closed gracefully
 * (queued and in-flight requests finish, then the sockets close): removed upstreams are drained, not cut.
 */
import { HostStats } from '../observe/metrics.js';
import { UpstreamClient } from './client.js';

export interface PoolSettings {
  /** TCP connect timeout, ms (a timeout answers 504). */
  connectTimeoutMs: number;
  /** Time to the upstream's response headers once the request body was sent, ms (a timeout answers 504). */
  headersTimeoutMs: number;
  /** Longest silence between two body chunks from the upstream, ms (a timeout cuts the client connection). */
  bodyTimeoutMs: number;
  /** Idle keep-alive sockets are closed after this, ms; keep it below the upstreams' own keep-alive timeout. */
  keepAliveTimeoutMs: number;
  /** Sockets per origin; 0 means no limit. Requests beyond it wait in the pool's queue. */
  connections: number;
}

interface PoolEntry {
  pool: UpstreamClient;
  refs: number;
}

export class UpstreamPools {
  readonly #entries = new Map<string, PoolEntry>();
  readonly #closing = new Set<Promise<void>>();
  readonly #settings: PoolSettings;

  constructor(settings: PoolSettings) {
    this.#settings = settings;
  }

  /** Takes one reference to the origin's pool, creating it on first use. */
  acquire(origin: string): UpstreamClient {
    let entry = this.#entries.get(origin);
    if (entry === undefined) {
      entry = { pool: new UpstreamClient(origin, this.#settings), refs: 0 };
      this.#entries.set(origin, entry);
    }
    entry.refs++;
    return entry.pool;
  }

  /** Drops one reference; the last one closes the pool after its queued and in-flight requests finish. */
  release(origin: string): void {
    const entry = this.#entries.get(origin);
    if (entry === undefined) return;
    if (--entry.refs > 0) return;
    this.#entries.delete(origin);
    const closing = entry.pool.close();
    this.#closing.add(closing);
    closing.finally(() => this.#closing.delete(closing));
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Closes every pool: gracefully, or (force) aborting whatever is still running. */
  async closeAll(force: boolean): Promise<void> {
    const pools = [...this.#entries.values()].map((e) => e.pool);
    this.#entries.clear();
    await Promise.all([...pools.map((pool) => (force ? pool.destroy() : pool.close())), ...this.#closing]);
  }
}

/** Passive health settings of one upstream (from the route table, falling back to the proxy's settings). */
export interface PassiveHealth {
  maxFails: number;
  cooldownMs: number;
}

/**
 * One upstream as seen by one virtual host: the shared pool plus this host's view of its health and load.
 * Kept across reloads while the host still names the origin, so health and the in-flight count survive a swap.
 */
export class Upstream {
  readonly hostKey: string;
  readonly origin: string;
  readonly pool: UpstreamClient;
  /** Requests dispatched and not yet finished; what least-conn balances on. */
  active = 0;
  /** Consecutive failed connects. */
  fails = 0;
  /** While Date.now() is below this, passive health skips the upstream; 0 when not in cooldown. */
  downUntil = 0;
  /** Result of the last active check (true until one fails, or when there are no active checks). */
  checkHealthy = true;
  maxFails: number;
  cooldownMs: number;
  /** Stops the active checker, if one runs. Set by health.ts. */
  stopChecks: (() => void) | null = null;
  /** The health configuration the checker runs with, to tell on reload whether it must be restarted. */
  checkSignature = '';
  /** Requests and their times at this origin (metrics.ts, shared by the hosts naming it); set by build.ts. */
  stats: HostStats = new HostStats();
  /** Called when the up/down view changes (logging); never on the request path unless the state flips. */
  onChange: ((upstream: Upstream, up: boolean, why: string) => void) | null = null;

  constructor(hostKey: string, origin: string, pool: UpstreamClient, health: PassiveHealth) {
    this.hostKey = hostKey;
    this.origin = origin;
    this.pool = pool;
    this.maxFails = health.maxFails;
    this.cooldownMs = health.cooldownMs;
  }

  /** Where upgrade requests (which bypass the pool) connect: hostname without IPv6 brackets, port, protocol. */
  get connectTarget(): { host: string; port: number; secure: boolean } {
    return this.pool.target;
  }

  /** Whether a request may be sent here now. hot path: two field reads unless a cooldown is running. */
  available(): boolean {
    if (!this.checkHealthy) return false;
    if (this.downUntil === 0) return true;
    if (Date.now() < this.downUntil) return false;
    // Cooldown over: let traffic through again, one more failed connect puts it straight back (half-open).
    this.downUntil = 0;
    this.fails = this.maxFails - 1;
    this.onChange?.(this, true, 'cooldown over');
    return true;
  }

  /** For metrics: up unless an active check failed or a passive cooldown is running. */
  get up(): boolean {
    return this.checkHealthy && (this.downUntil === 0 || Date.now() >= this.downUntil);
  }

  connectFailed(): void {
    if (++this.fails >= this.maxFails && this.downUntil === 0) {
      this.downUntil = Date.now() + this.cooldownMs;
      this.onChange?.(
        this,
        false,
        `${this.fails} failed connects in a row, skipped for ${this.cooldownMs} ms`,
      );
    }
  }

  /** The upstream answered: the failure streak is over. */
  answered(): void {
    if (this.fails !== 0) this.fails = 0;
  }
}
