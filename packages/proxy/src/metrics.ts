/**
 * Prometheus metrics (prom-client), served on the admin listener.
 *
 *   nodix_proxy_requests_total{host,method,code}        counter
 *   nodix_proxy_request_duration_seconds{host}          histogram
 *   nodix_proxy_upstream_up{host,upstream}              gauge (1 up, 0 down)
 *   nodix_proxy_open_connections                        gauge (client connections)
 *   nodix_proxy_config_reloads_total{result}            counter (result: success | failure)
 *   nodix_proxy_config_last_reload_success              gauge (1 if the last reload applied)
 *   + prom-client's default process metrics
 *
 * `host` is the route-table key (`webapp1.local`, `*.example.org`); requests for no known host share
 * `host="_unknown"`. Series of hosts removed by a reload disappear from the next scrape.
 *
 * Cheap on the hot path (pino's rule: pay when settings change, not per call). prom-client's `inc`/`observe`
 * hash the label set on every call, even through `labels(...)` children, so the per-request metrics are not
 * prom-client Counter/Histogram objects: each virtual host owns a HostStats of plain numbers (a Map of counts by
 * method and status, a bucket array) that the request path bumps, and two small collector objects turn them into
 * prom-client's metric format when somebody scrapes. Nobody scraping costs nothing.
 */
import { METHODS } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client';
import type { Upstream } from './upstream-pool.js';

export const UNKNOWN_HOST_LABEL = '_unknown';

/** Upper bounds of the duration buckets, seconds: a proxy hop is sub-millisecond, so the low end is finer. */
export const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

const METHOD_NAMES = [...METHODS, 'OTHER'];
const METHOD_INDEX = new Map(METHODS.map((m, i) => [m, i]));
const OTHER_METHOD = METHODS.length;

/** Traffic counters of one virtual host (or of `_unknown`). */
export class HostStats {
  /** Request counts keyed by methodIndex * 1000 + status. */
  readonly counts = new Map<number, number>();
  /** Per-bucket (not cumulative) observation counts; the last slot is +Inf. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  /** hot path — one Map update, a short bucket scan, two additions. */
  record(method: string, status: number, seconds: number): void {
    const key = (METHOD_INDEX.get(method) ?? OTHER_METHOD) * 1000 + status;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    this.buckets[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

interface CollectedMetric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  aggregator: 'sum' | 'min' | 'max' | 'first';
  values: MetricValue[];
}

/** A metric whose values are computed at scrape time; what prom-client's Registry needs from a metric. */
function collector(meta: Omit<CollectedMetric, 'values'>, values: () => MetricValue[]): Metric {
  const metric = {
    ...meta,
    get: async (): Promise<CollectedMetric> => ({ ...meta, values: values() }),
    reset: () => {},
  };
  return metric as unknown as Metric;
}

export interface ProxyMetricsOptions {
  /** Register into this registry; a fresh one by default (several proxies in one process must not share). */
  registry?: Registry;
  /** prom-client's default process metrics. Default true. */
  defaultMetrics?: boolean;
  /** The per-request metrics, upstream_up and open_connections. Default true (false in a cluster primary). */
  traffic?: boolean;
  /** The reload metrics. Default true (false in cluster workers: the primary counts reloads once). */
  reloads?: boolean;
}

export class ProxyMetrics {
  readonly registry: Registry;
  readonly unknown = new HostStats();
  /** Client connections currently open; bumped per connection, not per request. */
  openConnections = 0;
  /** Where upstream_up reads the current table's upstreams from; set by the proxy. */
  upstreams: () => Iterable<Upstream> = () => [];
  readonly #hosts = new Map<string, HostStats>();
  readonly #reloads: Counter<'result'> | null = null;
  readonly #lastReloadSuccess: Gauge | null = null;

  constructor(options: ProxyMetricsOptions = {}) {
    const registry = options.registry ?? new Registry();
    this.registry = registry;
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

    if (options.traffic ?? true) {
      registry.registerMetric(
        collector(
          {
            name: 'nodix_proxy_requests_total',
            help: 'Requests answered, by virtual host, method and status code.',
            type: 'counter',
            aggregator: 'sum',
          },
          () => this.#requestValues(),
        ),
      );
      registry.registerMetric(
        collector(
          {
            name: 'nodix_proxy_request_duration_seconds',
            help: 'Time from request to the end of the response, by virtual host.',
            type: 'histogram',
            aggregator: 'sum',
          },
          () => this.#durationValues(),
        ),
      );
      registry.registerMetric(
        collector(
          {
            name: 'nodix_proxy_upstream_up',
            help: 'Whether the upstream is considered healthy (1) or skipped (0), by virtual host and upstream.',
            type: 'gauge',
            // With several workers each has its own passive view; the scrape shows down if any worker sees down.
            aggregator: 'min',
          },
          () => {
            const values: MetricValue[] = [];
            for (const upstream of this.upstreams()) {
              values.push({
                labels: { host: upstream.hostKey, upstream: upstream.origin },
                value: upstream.up ? 1 : 0,
              });
            }
            return values;
          },
        ),
      );
      registry.registerMetric(
        collector(
          {
            name: 'nodix_proxy_open_connections',
            help: 'Client connections currently open.',
            type: 'gauge',
            aggregator: 'sum',
          },
          () => [{ labels: {}, value: this.openConnections }],
        ),
      );
    }

    if (options.reloads ?? true) {
      this.#reloads = new Counter({
        name: 'nodix_proxy_config_reloads_total',
        help: 'Route table reloads, by result (success: applied; failure: rejected, the last good table serves).',
        labelNames: ['result'],
        registers: [registry],
      });
      this.#reloads.inc({ result: 'success' }, 0);
      this.#reloads.inc({ result: 'failure' }, 0);
      this.#lastReloadSuccess = new Gauge({
        name: 'nodix_proxy_config_last_reload_success',
        help: 'Whether the last route table reload was applied (1) or rejected (0).',
        registers: [registry],
        aggregator: 'min',
      });
      this.#lastReloadSuccess.set(1);
    }
  }

  /** The stats object of a virtual host, created on first use and kept across reloads that keep the host. */
  statsFor(hostKey: string): HostStats {
    let stats = this.#hosts.get(hostKey);
    if (stats === undefined) {
      stats = new HostStats();
      this.#hosts.set(hostKey, stats);
    }
    return stats;
  }

  /** Forgets every host not in `keys`, so that their series disappear from the next scrape. */
  retainHosts(keys: { has(key: string): boolean }): void {
    for (const key of this.#hosts.keys()) {
      if (!keys.has(key)) this.#hosts.delete(key);
    }
  }

  recordReload(ok: boolean): void {
    this.#reloads?.inc({ result: ok ? 'success' : 'failure' });
    this.#lastReloadSuccess?.set(ok ? 1 : 0);
  }

  #allHosts(): Iterable<[string, HostStats]> {
    return [...this.#hosts, [UNKNOWN_HOST_LABEL, this.unknown]];
  }

  #requestValues(): MetricValue[] {
    const values: MetricValue[] = [];
    for (const [host, stats] of this.#allHosts()) {
      for (const [key, count] of stats.counts) {
        const method = METHOD_NAMES[Math.floor(key / 1000)]!;
        values.push({ labels: { host, method, code: String(key % 1000) }, value: count });
      }
    }
    return values;
  }

  #durationValues(): MetricValue[] {
    const name = 'nodix_proxy_request_duration_seconds';
    const values: MetricValue[] = [];
    for (const [host, stats] of this.#allHosts()) {
      if (stats.count === 0 && host === UNKNOWN_HOST_LABEL) continue;
      let cumulative = 0;
      for (let i = 0; i < DURATION_BUCKETS.length; i++) {
        cumulative += stats.buckets[i]!;
        values.push({
          metricName: `${name}_bucket`,
          labels: { host, le: DURATION_BUCKETS[i]! },
          value: cumulative,
        });
      }
      values.push({ metricName: `${name}_bucket`, labels: { host, le: '+Inf' }, value: stats.count });
      values.push({ metricName: `${name}_sum`, labels: { host }, value: stats.sum });
      values.push({ metricName: `${name}_count`, labels: { host }, value: stats.count });
    }
    return values;
  }
}
