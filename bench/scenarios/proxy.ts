/**
 * Issue 3: nodix-proxy against the baselines. Backends are bare node:http servers (`servers/bare-http.mjs
 * --read-body`), not nodix-webapp processes: the proxy figures then depend on the proxies alone, not on webapp
 * changes, and the backend is the cheapest one possible so the proxy's own cost dominates what is measured.
 */
import { hostName } from '../lib/route-table.js';
import type { FigureSpec, HttpScenario, SetupSpec } from './types.js';

const direct: SetupSpec = { name: 'direct', server: { kind: 'direct' } };
const nodix: SetupSpec = { name: 'nodix-proxy', server: { kind: 'nodix-proxy' } };
const nginx: SetupSpec = { name: 'nginx', server: { kind: 'nginx' } };
const httpProxy: SetupSpec = { name: 'http-proxy', server: { kind: 'http-proxy' } };
const tcpRelay: SetupSpec = { name: 'tcp-relay', server: { kind: 'tcp-relay' } };

/** Throughput of nodix-proxy over nginx's, against a minimum (issue 3: 0.65, issue 10's varied traffic: 0.75). */
export function throughputVsNginx(min: number): FigureSpec {
  return {
    kind: 'ratio',
    label: 'throughput nodix-proxy / nginx',
    metric: 'requestsPerSecond',
    of: 'nodix-proxy',
    over: 'nginx',
    target: { min },
  };
}

/** Figures every nodix-proxy vs nginx scenario reports besides throughput: latency, CPU, memory. */
export const proxyCostFigures: FigureSpec[] = [
  {
    kind: 'ratio',
    label: 'p99 latency nodix-proxy / nginx',
    metric: 'latencyP99Ms',
    of: 'nodix-proxy',
    over: 'nginx',
    target: { max: 2 },
  },
  {
    kind: 'ratio',
    label: 'throughput nodix-proxy / direct',
    metric: 'requestsPerSecond',
    of: 'nodix-proxy',
    over: 'direct',
  },
  {
    kind: 'ratio',
    label: 'CPU per request nodix-proxy / nginx',
    metric: 'cpuMicrosPerRequest',
    of: 'nodix-proxy',
    over: 'nginx',
  },
  {
    kind: 'absolute',
    label: 'nodix-proxy RSS per worker under load (MB)',
    metric: 'processHwmMaxMB',
    setup: 'nodix-proxy',
    target: { max: 100 },
  },
];

/** Issue 3's targets, the same for every proxy-vs-baselines scenario. */
const proxyTargets: FigureSpec[] = [
  throughputVsNginx(0.65),
  {
    kind: 'ratio',
    label: 'throughput nodix-proxy / http-proxy',
    metric: 'requestsPerSecond',
    of: 'nodix-proxy',
    over: 'http-proxy',
    target: { min: 1.8 },
  },
  ...proxyCostFigures,
];

const backends = [hostName(1), hostName(2)];

/** HTTPS with wrk to 127.0.0.1 (the name in the certificate and the route table; lib/setups.ts). */
function httpsLoad(connections: number, https: 'keep-alive' | 'new-connection'): HttpScenario['load'] {
  return { connections, hosts: ['127.0.0.1'], method: 'GET', bodyBytes: 0, generator: 'wrk', https };
}

/** Issue 11: throughput against nginx over TLS, with the cost figures (there is no TLS `direct`). */
function tlsFigures(min: number): FigureSpec[] {
  return [
    throughputVsNginx(min),
    ...proxyCostFigures.filter((figure) => figure.kind !== 'ratio' || figure.over !== 'direct'),
  ];
}

/** GET with one Host over 100 connections, every answer checked byte for byte. */
const oneHostGet: HttpScenario['load'] = {
  connections: 100,
  hosts: [hostName(1)],
  method: 'GET',
  bodyBytes: 0,
  expectBody: `${hostName(1)}\n`,
};

export const proxyScenarios: HttpScenario[] = [
  {
    kind: 'http',
    name: 'proxy-1host',
    issue: 3,
    description: 'nodix-proxy vs direct vs nginx vs http-proxy, GET, one host (webapp1.local)',
    backends,
    setups: [direct, nodix, nginx, httpProxy],
    load: oneHostGet,
    figures: proxyTargets,
  },
  {
    kind: 'http',
    name: 'proxy-floor',
    issue: 3,
    description:
      'what Node itself costs: a TCP relay with no HTTP (the floor of any Node proxy) vs nginx vs nodix-proxy, GET, one host',
    backends,
    setups: [tcpRelay, nodix, nginx],
    load: oneHostGet,
    figures: [
      {
        kind: 'ratio',
        label: 'throughput tcp-relay / nginx',
        metric: 'requestsPerSecond',
        of: 'tcp-relay',
        over: 'nginx',
      },
      {
        kind: 'ratio',
        label: 'throughput nodix-proxy / nginx',
        metric: 'requestsPerSecond',
        of: 'nodix-proxy',
        over: 'nginx',
      },
      {
        kind: 'ratio',
        label: 'throughput nodix-proxy / tcp-relay',
        metric: 'requestsPerSecond',
        of: 'nodix-proxy',
        over: 'tcp-relay',
      },
      {
        kind: 'ratio',
        label: 'CPU per request tcp-relay / nginx',
        metric: 'cpuMicrosPerRequest',
        of: 'tcp-relay',
        over: 'nginx',
      },
      {
        kind: 'ratio',
        label: 'CPU per request nodix-proxy / tcp-relay',
        metric: 'cpuMicrosPerRequest',
        of: 'nodix-proxy',
        over: 'tcp-relay',
      },
    ],
  },
  {
    kind: 'http',
    name: 'proxy-2hosts',
    issue: 3,
    description: 'as proxy-1host, two hosts alternating request by request (webapp1.local, webapp2.local)',
    backends,
    setups: [direct, nodix, nginx, httpProxy],
    load: { connections: 100, hosts: [hostName(1), hostName(2)], method: 'GET', bodyBytes: 0 },
    figures: proxyTargets,
  },
  {
    kind: 'http',
    name: 'proxy-10k-hosts',
    issue: 3,
    description:
      'nodix-proxy with a 10 000-host route table vs the same proxy with 4 hosts, two hosts alternating',
    backends,
    setups: [
      { name: 'nodix-proxy 4 hosts', server: { kind: 'nodix-proxy' }, routeHosts: 4 },
      { name: 'nodix-proxy 10k hosts', server: { kind: 'nodix-proxy' }, routeHosts: 10_000 },
    ],
    load: { connections: 100, hosts: [hostName(1), hostName(2)], method: 'GET', bodyBytes: 0 },
    figures: [
      {
        kind: 'ratio',
        label: 'throughput 10k hosts / 4 hosts',
        metric: 'requestsPerSecond',
        of: 'nodix-proxy 10k hosts',
        over: 'nodix-proxy 4 hosts',
        target: { min: 0.95 },
      },
      {
        kind: 'absolute',
        label: 'nodix-proxy 10k hosts RSS per worker (MB)',
        metric: 'processHwmMaxMB',
        setup: 'nodix-proxy 10k hosts',
        target: { max: 100 },
      },
    ],
  },
  {
    kind: 'http',
    name: 'proxy-post-64k',
    issue: 3,
    description:
      'nodix-proxy vs direct vs nginx vs http-proxy, 64 KB POST bodies read in full by the backend',
    backends,
    setups: [direct, nodix, nginx, httpProxy],
    load: {
      connections: 50,
      hosts: [hostName(1)],
      method: 'POST',
      bodyBytes: 64 * 1024,
      expectBody: `${hostName(1)}\n`,
    },
    figures: proxyTargets,
  },
  {
    kind: 'http',
    name: 'proxy-reload',
    issue: 3,
    description:
      'nodix-proxy under load with its routes file rewritten (and SIGHUP sent) every 50 ms vs no reloads',
    backends,
    setups: [
      { name: 'nodix-proxy', server: { kind: 'nodix-proxy' } },
      { name: 'nodix-proxy reloading', server: { kind: 'nodix-proxy' }, reloadEveryMs: 50 },
    ],
    load: { connections: 100, hosts: [hostName(1), hostName(2)], method: 'GET', bodyBytes: 0 },
    figures: [
      {
        kind: 'absolute',
        label: 'failed requests during reloads',
        metric: 'failedRequests',
        setup: 'nodix-proxy reloading',
        target: { max: 0 },
      },
      {
        kind: 'ratio',
        label: 'throughput reloading / steady',
        metric: 'requestsPerSecond',
        of: 'nodix-proxy reloading',
        over: 'nodix-proxy',
      },
      {
        kind: 'ratio',
        label: 'p99 latency reloading / steady',
        metric: 'latencyP99Ms',
        of: 'nodix-proxy reloading',
        over: 'nodix-proxy',
      },
    ],
  },
  {
    kind: 'http',
    name: 'proxy-tls',
    issue: 11,
    description:
      "HTTPS keep-alive GETs (wrk replaying 10 000 distinct heads for the certificate's host): nodix-proxy --listen-tls vs nginx ssl, the same ECDSA certificate, TLS 1.2/1.3, ciphers",
    backends,
    setups: [nodix, nginx],
    // Varied heads (proxy-mixed's corpus, every Host the one name of the certificate and of wrk's SNI): one head
    // sent again and again would be a string comparison for nodix-proxy (its memo of recent heads), not a parse.
    load: {
      ...httpsLoad(100, 'keep-alive'),
      corpus: { seed: 0x6e0d1c, heads: 10_000, hosts: 1, tableHosts: 1, host: '127.0.0.1' },
    },
    figures: tlsFigures(0.75),
  },
  {
    kind: 'http',
    name: 'proxy-tls-handshakes',
    issue: 11,
    description:
      'a new TLS connection per request (wrk, Connection: close), session resumption off on both: nodix-proxy vs nginx',
    backends,
    setups: [nodix, nginx],
    load: httpsLoad(50, 'new-connection'),
    figures: tlsFigures(0.7),
  },
];
