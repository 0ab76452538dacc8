/**
 * Prometheus metrics (prom-client), served on the admin listener.
 *
 *   nodix_proxy_requests_total{host,method,code}        counter
 *   nodix_proxy_request_duration_seconds{host}          histogram
 *   nodix_proxy_received_bytes_total{host}              counter (request body bytes from clients)
 *   nodix_proxy_sent_bytes_total{host}                  counter (response body bytes to clients)
 *   nodix_proxy_upstream_requests_total{upstream,code}  counter (answers and failures, per upstream origin)
 *   nodix_proxy_upstream_duration_seconds{upstream}     histogram (request sent → response complete)
 *   nodix_proxy_upstream_up{host,upstream}              gauge (1 up, 0 down)
 *   nodix_proxy_open_connections                        gauge (client connections)
 *   nodix_proxy_config_reloads_total{result}            counter (result: success | failure)
 *   nodix_proxy_config_last_reload_success              gauge (1 if the last reload applied)
 *   nodix_proxy_acme_orders_total{result}               counter (ACME orders: issued | renewed | failed)
 *   nodix_proxy_tls_handshakes_total{protocol}          counter (TLSv1.2, TLSv1.3)
 *   nodix_proxy_tls_handshake_failures_total{reason}    counter (unknown_name, no_shared_cipher,
 *                                                       protocol_version, timeout, reset, other)
 *   nodix_proxy_tls_certificate_not_after{host}         gauge (expiry, seconds since the epoch; `defaultTls`
 *                                                       for the default certificate)
 *   + prom-client's default process metrics
 *
 * `host` is the route-table key (`webapp1.local`, `*.example.org`); requests for no known host share
 * `host="_unknown"`. `upstream` is an origin of the route table (`http://127.0.0.1:3001`), shared by the hosts
 * that name it. Both label sets are bounded by the route table: series of hosts and origins removed by a reload
 * disappear from the next scrape.
 *
 * Cheap on the hot path (pino's rule: pay when settings change, not per call). prom-client's `inc`/`observe`
 * hash the label set on every call, even through `labels(...)` children, so the per-request metrics are not
 * prom-client Counter/Histogram objects: each virtual host owns a HostStats of plain numbers (a Map of counts by
 * method and status, a bucket array) that the request path bumps, and small collector objects turn them into
 * prom-client's metric format when somebody scrapes.
 *
 * Nobody scraping costs nothing, not even prom-client itself: the Registry (and with it the prom-client module,
 * its event-loop-delay monitor and GC observer behind the default metrics) is created on the first access to
 * `registry`, i.e. the first scrape. Until then every metric is a plain number here. The default process metrics
 * therefore observe from the first scrape on (CPU time, memory and handles are read at scrape time anyway; GC
 * durations and event-loop lag are sampled from then on), which Prometheus, scraping at an interval, never notices.
 */
import { METHODS } from 'node:http';
import { createRequire } from 'node:module';
import type { Metric, Registry } from 'prom-client';
import type { Upstream } from '../upstream/pool.js';

type PromClient = typeof import('prom-client');
const require = createRequire(import.meta.url);
let promClient: PromClient | null = null;

/** prom-client, loaded on first use (see the file comment). */
export function loadPromClient(): PromClient {
  promClient ??= require('prom-client') as PromClient;
  return promClient;
}

export const UNKNOWN_HOST_LABEL = '_unknown';

/** Upper bounds of the duration buckets, seconds: a proxy hop is sub-millisecond, so the low end is finer. */
export const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

const METHOD_NAMES = [...METHODS, 'OTHER'];
const METHOD_INDEX = new Map(METHODS.map((m, i) => [m, i]));
const OTHER_METHOD = METHODS.length;

/** The storage of a HostStats that has recorded nothing yet: shared, never written (`record` replaces it). */
const NO_COUNTS: ReadonlyMap<number, number> = new Map();
const NO_BUCKETS: number[] = [];

/**
 * Traffic counters of one virtual host (or of `_unknown`). A 10 000-host table builds 10 000 of these, most of
 * which may never see a request: the count Map and the bucket array are allocated by the first `record`, so an
 * idle host costs one small object.
 */
export class HostStats {
  /** Request counts keyed by methodIndex * 1000 + status, but for the current run (see `record`). */
  #counts: ReadonlyMap<number, number> = NO_COUNTS;
  /** Per-bucket (not cumulative) observation counts; the last slot is +Inf. Empty until the first `record`. */
  buckets: number[] = NO_BUCKETS;
  sum = 0;
  count = 0;
  /** Body bytes received from clients / sent to them (virtual hosts only). */
  bytesIn = 0;
  bytesOut = 0;
  /**
   * The current run of requests with one method and status (nearly all of a host's are `GET 200`): counted here
   * and added to the Map when another pair comes or somebody reads `counts`, so a request costs no Map update.
   */
  #runMethod = '';
  #runStatus = 0;
  #runCount = 0;

  /** hot path — two comparisons and an increment, a short bucket scan, two additions (allocations once per host). */
  record(method: string, status: number, seconds: number): void {
    if (method === this.#runMethod && status === this.#runStatus) {
      this.#runCount++;
    } else {
      this.#endRun();
      this.#runMethod = method;
      this.#runStatus = status;
      this.#runCount = 1;
    }
    if (this.buckets === NO_BUCKETS) this.buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    this.buckets[i]!++;
    this.sum += seconds;
    this.count++;
  }

  /** Request counts keyed by methodIndex * 1000 + status (read at scrape time). */
  get counts(): ReadonlyMap<number, number> {
    this.#endRun();
    return this.#counts;
  }

  #endRun(): void {
    if (this.#runCount === 0) return;
    if (this.#counts === NO_COUNTS) this.#counts = new Map<number, number>();
    const counts = this.#counts as Map<number, number>;
    const key = (METHOD_INDEX.get(this.#runMethod) ?? OTHER_METHOD) * 1000 + this.#runStatus;
    counts.set(key, (counts.get(key) ?? 0) + this.#runCount);
    this.#runCount = 0;
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

/** Why a TLS handshake failed: a bounded label set. */
export type TlsFailureReason =
  | 'unknown_name'
  | 'no_shared_cipher'
  | 'protocol_version'
  | 'timeout'
  | 'reset'
  | 'plain_http'
  | 'other';

export const TLS_FAILURE_REASONS: readonly TlsFailureReason[] = [
  'unknown_name',
  'no_shared_cipher',
  'protocol_version',
  'timeout',
  'reset',
  'plain_http',
  'other',
];

/** Handshake counts of the TLS listener: plain numbers, bumped once per handshake. */
export class TlsStats {
  /** By protocol (`TLSv1.3`): at most the two versions the listener allows. */
  readonly handshakes = new Map<string, number>();
  readonly failures = new Map<TlsFailureReason, number>();
  /** Certificates (route-table key, expiry in seconds since the epoch); set by the TLS listener. */
  notAfter: () => Iterable<[string, number]> = () => [];

  handshake(protocol: string): void {
    this.handshakes.set(protocol, (this.handshakes.get(protocol) ?? 0) + 1);
  }

  failed(reason: TlsFailureReason): void {
    this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
  }
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
  /** nodix_proxy_acme_orders_total. Default true (false in cluster workers: the primary runs the ACME manager). */
  acmeOrders?: boolean;
}

export class ProxyMetrics {
  readonly unknown = new HostStats();
  readonly tls = new TlsStats();
  /** Client connections currently open; bumped per connection, not per request. */
  openConnections = 0;
  /** HTTP/2 sessions open now, and streams (requests) received over HTTP/2 so far (inbound/h2.ts). */
  h2Sessions = 0;
  h2Streams = 0;
  /** Where upstream_up reads the current table's upstreams from; set by the proxy. */
  upstreams: () => Iterable<Upstream> = () => [];
  readonly #hosts = new Map<string, HostStats>();
  readonly #upstreams = new Map<string, HostStats>();
  readonly #options: ProxyMetricsOptions;
  #registry: Registry | null = null;
  /** ACME orders by result (tls/acme/manager.ts); counted by the process running the manager. */
  readonly acmeOrders = { issued: 0, renewed: 0, failed: 0 };
  /** Reload counts; null when this instance does not count reloads (cluster workers). */
  readonly #reloads: { success: number; failure: number; lastOk: boolean } | null;

  constructor(options: ProxyMetricsOptions = {}) {
    this.#options = options;
    this.#reloads = (options.reloads ?? true) ? { success: 0, failure: 0, lastOk: true } : null;
    // A registry handed in belongs to a caller who already loaded prom-client: fill it now.
    if (options.registry !== undefined) this.#register(options.registry);
  }

  /** The prom-client registry with every metric; created (and prom-client loaded) on first access. */
  get registry(): Registry {
    if (this.#registry === null) this.#register(new (loadPromClient().Registry)());
    return this.#registry!;
  }

  #register(registry: Registry): void {
    this.#registry = registry;
    const options = this.#options;
    if (options.defaultMetrics ?? true) loadPromClient().collectDefaultMetrics({ register: registry });

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
            name: 'nodix_proxy_received_bytes_total',
            help: 'Request body bytes received from clients, by virtual host.',
            type: 'counter',
            aggregator: 'sum',
          },
          () => this.#byteValues('bytesIn'),
        ),
      );
      registry.registerMetric(
        collector(
          {
            name: 'nodix_proxy_sent_bytes_total',
            help: 'Response body bytes sent to clients, by virtual host.',
            type: 'counter',
            aggregator: 'sum',
          },
          () => this.#byteValues('bytesOut'),
        ),
      );
      registry.registerMetric(
        collector(
          {
            name: 'nodix_proxy_upstream_requests_total',
            help: 'Requests sent to an upstream, by upstream origin and the status it answered (502/504: failed).',
            type: 'counter',
            aggregator: 'sum',
          },
          () => {
            const values: MetricValue[] = [];
            for (const [upstream, stats] of this.#upstreams) {
              // Counted by method and status like a host's; summed over methods here.
              const byCode = new Map<number, number>();
              for (const [key, count] of stats.counts)
                byCode.set(key % 1000, (byCode.get(key % 1000) ?? 0) + count);
              for (const [code, count] of byCode)
                values.push({ labels: { upstream, code: String(code) }, value: count });
            }
            return values;
          },
        ),
      );
      registry.registerMetric(
        collector(
          {
            name: 'nodix_proxy_upstream_duration_seconds',
            help: 'Time from sending a request to an upstream to the end of its response, by upstream origin.',
            type: 'histogram',
            aggregator: 'sum',
          },
          () => histogramValues('nodix_proxy_upstream_duration_seconds', 'upstream', this.#upstreams),
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
      registry.registerMetric(
        collector(
          {
            name: 'nodix_proxy_h2_sessions',
            help: 'HTTP/2 connections (sessions) currently open.',
            type: 'gauge',
            aggregator: 'sum',
          },
          () => [{ labels: {}, value: this.h2Sessions }],
        ),
      );
      registry.registerMetric(
        collector(
          {
            name: 'nodix_proxy_h2_streams_total',
            help: 'HTTP/2 streams (requests) received; their outcomes are counted in nodix_proxy_requests_total.',
            type: 'counter',
            aggregator: 'sum',
          },
          () => [{ labels: {}, value: this.h2Streams }],
        ),
      );
      const tls = this.tls;
      registry.registerMetric(
        collector(
          {
            name: 'nodix_proxy_tls_handshakes_total',
            help: 'TLS handshakes completed, by protocol version.',
            type: 'counter',
            aggregator: 'sum',
          },
          () => [...tls.handshakes].map(([protocol, value]) => ({ labels: { protocol }, value })),
        ),
      );
      registry.registerMetric(
        collector(
          {
            name: 'nodix_proxy_tls_handshake_failures_total',
            help: 'TLS handshakes that failed, by reason (unknown_name: no certificate for the SNI name).',
            type: 'counter',
            aggregator: 'sum',
          },
          () => [...tls.failures].map(([reason, value]) => ({ labels: { reason }, value })),
        ),
      );
      registry.registerMetric(
        collector(
          {
            name: 'nodix_proxy_tls_certificate_not_after',
            help: 'When the certificate served for a virtual host expires, seconds since the epoch.',
            type: 'gauge',
            aggregator: 'min',
          },
          () => [...tls.notAfter()].map(([host, value]) => ({ labels: { host }, value })),
        ),
      );
    }

    if (this.#options.acmeOrders ?? true) {
      const acmeOrders = this.acmeOrders;
      registry.registerMetric(
        collector(
          {
            name: 'nodix_proxy_acme_orders_total',
            help: 'ACME certificate orders, by result (issued: a first certificate, renewed, failed: retried after a backoff).',
            type: 'counter',
            aggregator: 'sum',
          },
          () => [
            { labels: { result: 'issued' }, value: acmeOrders.issued },
            { labels: { result: 'renewed' }, value: acmeOrders.renewed },
            { labels: { result: 'failed' }, value: acmeOrders.failed },
          ],
        ),
      );
    }

    const reloads = this.#reloads;
    if (reloads !== null) {
      registry.registerMetric(
        collector(
          {
            name: 'nodix_proxy_config_reloads_total',
            help: 'Route table reloads, by result (success: applied; failure: rejected, the last good table serves).',
            type: 'counter',
            aggregator: 'sum',
          },
          () => [
            { labels: { result: 'success' }, value: reloads.success },
            { labels: { result: 'failure' }, value: reloads.failure },
          ],
        ),
      );
      registry.registerMetric(
        collector(
          {
            name: 'nodix_proxy_config_last_reload_success',
            help: 'Whether the last route table reload was applied (1) or rejected (0).',
            type: 'gauge',
            aggregator: 'min',
          },
          () => [{ labels: {}, value: reloads.lastOk ? 1 : 0 }],
        ),
      );
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

  /** The stats of an upstream origin (shared by every host naming it), created on first use. */
  upstreamStatsFor(origin: string): HostStats {
    let stats = this.#upstreams.get(origin);
    if (stats === undefined) {
      stats = new HostStats();
      this.#upstreams.set(origin, stats);
    }
    return stats;
  }

  /** Forgets every upstream origin not in `origins` (a reload removed it). */
  retainUpstreams(origins: readonly string[]): void {
    const kept = new Set(origins);
    for (const origin of this.#upstreams.keys()) if (!kept.has(origin)) this.#upstreams.delete(origin);
  }

  /** Forgets every host not in `keys`, so that their series disappear from the next scrape. */
  retainHosts(keys: { has(key: string): boolean }): void {
    for (const key of this.#hosts.keys()) {
      if (!keys.has(key)) this.#hosts.delete(key);
    }
  }

  recordReload(ok: boolean): void {
    const reloads = this.#reloads;
    if (reloads === null) return;
    if (ok) reloads.success++;
    else reloads.failure++;
    reloads.lastOk = ok;
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
    const hosts = [...this.#allHosts()].filter(
      ([host, stats]) => stats.count > 0 || host !== UNKNOWN_HOST_LABEL,
    );
    return histogramValues('nodix_proxy_request_duration_seconds', 'host', hosts);
  }

  #byteValues(field: 'bytesIn' | 'bytesOut'): MetricValue[] {
    const values: MetricValue[] = [];
    for (const [host, stats] of this.#hosts) values.push({ labels: { host }, value: stats[field] });
    return values;
  }
}

/** The _bucket/_sum/_count series of a histogram kept in HostStats objects, labelled `label` by their key. */
function histogramValues(name: string, label: string, all: Iterable<[string, HostStats]>): MetricValue[] {
  const values: MetricValue[] = [];
  for (const [key, stats] of all) {
    let cumulative = 0;
    for (let i = 0; i < DURATION_BUCKETS.length; i++) {
      cumulative += stats.buckets[i] ?? 0; // empty until the first record
      values.push({
        metricName: `${name}_bucket`,
        labels: { [label]: key, le: DURATION_BUCKETS[i]! },
        value: cumulative,
      });
    }
    values.push({ metricName: `${name}_bucket`, labels: { [label]: key, le: '+Inf' }, value: stats.count });
    values.push({ metricName: `${name}_sum`, labels: { [label]: key }, value: stats.sum });
    values.push({ metricName: `${name}_count`, labels: { [label]: key }, value: stats.count });
  }
  return values;
}
