/**
 * The shape of the scenario table. A scenario names the servers to start and the load to apply; the runners
 * (`lib/http-scenario.ts`, `lib/planning-scenario.ts`, `lib/deploy-scenario.ts`) do the starting, loading and
 * measuring.
 */
import type { CorpusOptions } from '../lib/corpus.js';
import type { Target } from '../lib/stats.js';

/** What one compared setup runs; every server is started by the harness, pinned to the servers' core. */
export type ServerSpec =
  /** A bare node:http server answering `<name>\n` (`servers/bare-http.mjs`). */
  | { kind: 'bare-http'; name: string }
  /** The `nodix-webapp` bin, built from packages/webapp. */
  | { kind: 'nodix-webapp'; name: string }
  /** No server of its own: the load goes straight at the scenario's first backend (the upper limit). */
  | { kind: 'direct' }
  /** Debian's nginx as reverse proxy over the setup's route table (`lib/nginx-config.ts`). */
  | { kind: 'nginx' }
  /** The `nodix-proxy` bin, built from packages/proxy, reading the setup's route table file. */
  | { kind: 'nodix-proxy' }
  /** http-proxy 1.18.1 with a keep-alive agent over the same route table (`servers/http-proxy.mjs`). */
  | { kind: 'http-proxy' }
  /** A byte relay to the first backend, no HTTP at all (`servers/tcp-relay.mjs`): the floor of a Node proxy. */
  | { kind: 'tcp-relay' };

export interface SetupSpec {
  /** Name in the report and in ratios (`nodix-proxy`, `nginx`, `nodix-proxy 10k hosts`). */
  name: string;
  server: ServerSpec;
  /** Size of the generated route table (webapp1.local .. webappN.local over the backends). Default 4. */
  routeHosts?: number;
  /**
   * Hot reloads during every measured load: the routes file is rewritten atomically (a real change each time)
   * every this many milliseconds and the proxy is sent SIGHUP, so both reload paths are exercised.
   */
  reloadEveryMs?: number;
  /** nodix-proxy only: more command-line settings (the idle scenario's keep-alive timeout). */
  proxyArgs?: string[];
  /**
   * nodix-proxy and nginx only: serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with one certificate the harness makes
   * for every host of the table (ECDSA P-256), TLS 1.2 and 1.3; the load goes to the TLS port.
   */
  tls?: boolean;
}

export interface LoadSpec {
  connections: number;
  /** Host headers; several alternate request by request on every connection. */
  hosts: string[];
  method: 'GET' | 'POST';
  bodyBytes: number;
  /** Only where every response must be the same bytes: any other body counts as an error. */
  expectBody?: string;
  /**
   * `wrk` replays `corpus` (required then; `hosts`, `method` and `bodyBytes` are not used): autocannon builds a
   * corpus's every request once per connection and starts every connection at the same index, so connections
   * would replay it in lockstep. Default `autocannon`.
   */
  generator?: 'autocannon' | 'wrk' | 'h2load';
  /** h2load only: concurrent streams per connection. */
  streams?: number;
  /** The seeded request heads to replay (`lib/corpus.ts`), built once per scenario run. */
  corpus?: CorpusOptions;
  /**
   * HTTPS (issue 11): the setups listen with TLS (nodix-proxy `--listen-tls`, nginx `listen ... ssl`) with the
   * same certificate, protocols and ciphers, session resumption off on both; wrk loads `https://127.0.0.1:PORT/`
   * (`generator` must be `wrk`; `hosts` is `['127.0.0.1']`, the name in the certificate and the route table).
   * `keep-alive`: GETs on kept connections; `new-connection`: `Connection: close`, a full handshake per request.
   */
  https?: 'keep-alive' | 'new-connection';
}

/** Figures a setup's summary provides, for ratios and absolute targets. */
export type Metric =
  | 'requestsPerSecond'
  | 'latencyP50Ms'
  | 'latencyP99Ms'
  | 'cpuMicrosPerRequest'
  | 'processHwmMaxMB'
  | 'treeRssPeakMB'
  | 'failedRequests';

export type FigureSpec =
  /** Median over rounds of `of / over`, each ratio taken within one round. */
  | { kind: 'ratio'; label: string; metric: Metric; of: string; over: string; target?: Target }
  /** One setup's figure over all rounds (max for memory and failures, median otherwise). */
  | { kind: 'absolute'; label: string; metric: Metric; setup: string; target?: Target };

export interface HttpScenario {
  kind: 'http';
  name: string;
  /** The issue that asked for it. */
  issue: number;
  description: string;
  /** Names of the bare node:http backends (`--read-body`) the proxies route to; `direct` loads the first. */
  backends: string[];
  setups: SetupSpec[];
  load: LoadSpec;
  figures: FigureSpec[];
}

export interface PlanningScenario {
  kind: 'planning';
  name: string;
  issue: number;
  description: string;
  /** Service counts to plan, each over `targets` targets. */
  serviceCounts: number[];
  targets: number;
}

export interface DeployScenario {
  kind: 'deploy';
  name: string;
  issue: number;
  description: string;
  /** Web apps of `services-dynamic.ts` (`--extra-params '{"count":N}'`), spread by `qos.ts` over the targets. */
  webapps: number;
  /** Target names, each an agent on loopback with room for `webapps / targets.length` web apps. */
  targets: string[];
  /** Issue 5: a deploy from nothing takes at most this many times starting the same processes directly. */
  maxRatio: number;
}

/**
 * The deploy of `DeployScenario` to targets in network namespaces, reached over SSH (an sshd per target, the agent
 * on a Unix socket) and over the HTTP agent (port and token) in the same namespaces, round by round
 * (`lib/deploy-ssh-scenario.ts`). Needs root, iproute2 and openssh-server.
 */
export interface DeploySshScenario {
  kind: 'deploy-ssh';
  name: string;
  issue: number;
  description: string;
  webapps: number;
  /** Issue 13: the deploy from nothing over SSH takes at most this many times the same deploy over HTTP. */
  maxRatio: number;
}

/**
 * Memory per idle keep-alive connection: each setup (started afresh every round) gets `connections` client
 * connections that have each carried one GET and then stay open and idle; the server tree's RSS growth divided by
 * the connection count is the figure (`lib/idle-memory-scenario.ts`).
 */
export interface IdleMemoryScenario {
  kind: 'idle-memory';
  name: string;
  issue: number;
  description: string;
  /** The bare node:http backends the proxies route to. */
  backends: string[];
  setups: SetupSpec[];
  /** Idle connections per setup in full mode. */
  connections: number;
  /** The same in quick mode, which only checks the scenario runs. */
  quickConnections: number;
  /** The ratio reported: KB per connection of setup `of` over setup `over`. */
  of: string;
  over: string;
}

export type Scenario =
  | HttpScenario
  | PlanningScenario
  | DeployScenario
  | DeploySshScenario
  | IdleMemoryScenario;
