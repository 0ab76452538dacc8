/**
 * Issue 10, "measure traffic that varies": the proxy on front-door traffic that repeats little (`proxy-mixed`:
 * a seeded corpus of 10 000 distinct request heads over 1 000 of 10 000 hosts, replayed by wrk), and the memory
 * an idle keep-alive connection costs (`proxy-idle-memory`). Both against nginx over the same route table.
 */
import { hostName } from '../lib/route-table.js';
import { proxyCostFigures, throughputVsNginx } from './proxy.js';
import type { HttpScenario, IdleMemoryScenario, SetupSpec } from './types.js';

/** Every setup of proxy-mixed routes the same 10 000-host table; the corpus names 1 000 of those hosts. */
const TABLE_HOSTS = 10_000;

const mixedSetups: SetupSpec[] = [
  { name: 'direct', server: { kind: 'direct' }, routeHosts: TABLE_HOSTS },
  { name: 'nodix-proxy', server: { kind: 'nodix-proxy' }, routeHosts: TABLE_HOSTS },
  { name: 'nginx', server: { kind: 'nginx' }, routeHosts: TABLE_HOSTS },
];

const backends = [hostName(1), hostName(2)];

export const proxyVariedScenarios: (HttpScenario | IdleMemoryScenario)[] = [
  {
    kind: 'http',
    name: 'proxy-mixed',
    issue: 10,
    description:
      'nodix-proxy vs direct vs nginx on varied traffic: 10 000 distinct GET heads (1 000 of 10 000 hosts, varied paths, queries, user agents, cookies) replayed by wrk',
    backends,
    setups: mixedSetups,
    load: {
      connections: 50,
      hosts: [],
      method: 'GET',
      bodyBytes: 0,
      generator: 'wrk',
      corpus: { seed: 0x6e0d1c, heads: 10_000, hosts: 1_000, tableHosts: TABLE_HOSTS },
    },
    figures: [throughputVsNginx(0.75), ...proxyCostFigures],
  },
  {
    kind: 'idle-memory',
    name: 'proxy-idle-memory',
    issue: 10,
    description:
      'RSS growth per idle keep-alive connection (each has carried one GET), nodix-proxy vs nginx, 10 000 connections',
    backends,
    setups: [
      {
        name: 'nodix-proxy',
        server: { kind: 'nodix-proxy' },
        // nginx's timeouts (keepalive_timeout 65s, upstream keepalive_timeout 60s): with nodix's defaults (5 s,
        // 4 s) the first connections would be closed before the last are open.
        proxyArgs: ['--keep-alive-timeout', '65000', '--upstream-keep-alive-timeout', '60000'],
      },
      { name: 'nginx', server: { kind: 'nginx' } },
    ],
    connections: 10_000,
    quickConnections: 1_000,
    of: 'nodix-proxy',
    over: 'nginx',
  },
];
