/**
 * Issue 11: HTTP/2 on the TLS listener (`proxy-h2`), nodix-proxy against nginx with `http2` on, both serving the
 * same certificate with the same TLS versions, over the same HTTP/1.1 backends: h2load, 100 concurrent streams
 * over 10 connections (10 each).
 */
import { hostName } from '../lib/route-table.js';
import { proxyCostFigures, throughputVsNginx } from './proxy.js';
import type { HttpScenario } from './types.js';

export const proxyH2Scenarios: HttpScenario[] = [
  {
    kind: 'http',
    name: 'proxy-h2',
    issue: 11,
    description:
      'HTTP/2 over TLS: h2load, 10 connections × 10 concurrent streams, GET of one host, nodix-proxy vs nginx (listen ssl http2), same certificate',
    backends: [hostName(1), hostName(2)],
    setups: [
      { name: 'nodix-proxy', server: { kind: 'nodix-proxy' }, tls: true },
      { name: 'nginx', server: { kind: 'nginx' }, tls: true },
    ],
    load: {
      connections: 10,
      streams: 10,
      hosts: [hostName(1)],
      method: 'GET',
      bodyBytes: 0,
      generator: 'h2load',
    },
    figures: [
      throughputVsNginx(0.6),
      // p99 is h2load's max here, and there is no direct setup: CPU and memory only.
      ...proxyCostFigures.filter((f) => f.metric === 'cpuMicrosPerRequest'),
      {
        kind: 'absolute',
        label: 'nodix-proxy CPU µs per request',
        metric: 'cpuMicrosPerRequest',
        setup: 'nodix-proxy',
      },
      {
        kind: 'absolute',
        label: 'nginx CPU µs per request',
        metric: 'cpuMicrosPerRequest',
        setup: 'nginx',
      },
      ...proxyCostFigures.filter((f) => f.metric === 'processHwmMaxMB'),
      {
        kind: 'absolute',
        label: 'nginx RSS, whole tree, under load (MB)',
        metric: 'treeRssPeakMB',
        setup: 'nginx',
      },
    ],
  },
];
