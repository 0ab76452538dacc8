/** What a scenario run produces: written as `results/<scenario>.json`, rendered by `report.ts`. */
import type { Metric } from '../scenarios/types.js';
import type { MeasuredLoad } from './load.js';
import type { Target, Verdict } from './stats.js';

export interface RunSettings {
  mode: 'quick' | 'full';
  rounds: number;
  durationSeconds: number;
  warmupSeconds: number;
}

export interface MachineInfo {
  date: string;
  hostname: string;
  cpuModel: string;
  cpus: number;
  node: string;
  nginx: string | undefined;
  /** Absent in results from before wrk was used. */
  wrk?: string | undefined;
  pinning: string;
}

export interface SetupSummary {
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  cpuMicrosPerRequest: number;
  treeRssPeakMB: number;
  processHwmMaxMB: number;
  /** errors + timeouts + non-2xx + body mismatches, summed over rounds. */
  failedRequests: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  mismatches: number;
}

export interface SetupResult {
  name: string;
  /** What ran: command line or baseline description. */
  server: string;
  /** Why the setup produced no (or incomplete) figures. */
  failure?: string;
  /** One measured load per round, in round order (the warm-up is not kept). */
  rounds: MeasuredLoad[];
  summary?: SetupSummary;
  /** Extra facts (reload count, route table size). */
  notes: string[];
}

export interface FigureResult {
  label: string;
  metric: Metric | string;
  value: number;
  /** For ratios: one value per round. */
  perRound?: number[];
  target?: Target;
  verdict: Verdict;
  /** Unit shown after the value (`x` for ratios). */
  unit: string;
}

export interface PlanningMeasurement {
  services: number;
  targets: number;
  /** Median milliseconds per step over the rounds. */
  stepsMs: Record<string, number>;
  totalMs: number;
}

/** Whom one `nodix deploy` run contacted, counted inside it by `count-connections.mjs`. */
export interface DeployContacts {
  /** HTTP requests per target (its agent's port). */
  agentRequests: Record<string, number>;
  /** TCP connections opened per target's agent. */
  agentConnections: Record<string, number>;
  /** TCP connections (made or failed) or requests to anything but an agent (a service's port), by destination. */
  other: Record<string, number>;
  /** Unix-socket attempts (tsx looking for a parent tsx process): no agent or service listens on one. */
  local: Record<string, number>;
}

/** One round of the deploy scenario; times in milliseconds, wall clock. */
export interface DeployRound {
  /** Start the 22 processes from the harness and wait for each one's ready line. */
  directMs: number;
  /** `nodix deploy` from nothing (no generation, agents running nothing), spawn to exit. */
  deployMs: number;
  /** The same command again. */
  unchangedMs: number;
  /** With the services model that changes one webapp. */
  oneWebappMs: number;
  undeployMs: number;
  /** The deploy from nothing's own step times, from its output. */
  deployBuildMs: number | undefined;
  deployActivateMs: number | undefined;
  contacts: {
    deploy: DeployContacts;
    unchanged: DeployContacts;
    oneWebapp: DeployContacts;
    undeploy: DeployContacts;
  };
  /** What the agents did in the one-webapp redeploy, in order (`test2: activated webapp20 (started)`). */
  oneWebappActions: string[];
  /** Services whose PID the one-webapp redeploy changed. */
  oneWebappNewPids: string[];
}

export interface DeployMeasurement {
  webapps: number;
  targets: string[];
  changedWebapp: string;
  /** Measured rounds (a full-mode warm-up round is not kept). */
  rounds: DeployRound[];
  /** The timed command lines, for the report. */
  commands: string[];
  /** What was verified, as sentences (each check that failed is an error instead). */
  checks: string[];
}

/** One transport's steps in one round of the deploy-ssh scenario; times in milliseconds, wall clock. */
export interface DeployTransportRound {
  deployMs: number;
  unchangedMs: number;
  undeployMs: number;
  /** Connections each target's sshd accepted during the step (all zero over HTTP). */
  sshConnections?: {
    deploy: Record<string, number>;
    unchanged: Record<string, number>;
    undeploy: Record<string, number>;
  };
  /** TCP connections and HTTP requests the coordinator itself made (an ssh client's are its own). */
  contacts: { deploy: DeployContacts; unchanged: DeployContacts; undeploy: DeployContacts };
}

export interface DeploySshRound {
  ssh: DeployTransportRound;
  http: DeployTransportRound;
}

export interface DeploySshMeasurement {
  webapps: number;
  targets: string[];
  rounds: DeploySshRound[];
  commands: string[];
  checks: string[];
}

/** One setup in one round of the idle-connection scenario (a fresh server each round). */
export interface IdleRound {
  connections: number;
  /** Server tree's summed VmRSS after the warm-up, before any idle connection opened. */
  rssBeforeBytes: number;
  /** The same once every connection is open and idle and the figure has settled (the last of the samples). */
  rssAfterBytes: number;
  /** Every sample taken after the connections went idle, oldest first. */
  rssIdleSamplesBytes: number[];
  /** (after - before) / connections, in KB (1 024 bytes). */
  kbPerConnection: number;
  /** Open file descriptors of the server tree: before, with every connection idle, and after the client closed. */
  fdsBefore: number;
  fdsIdle: number;
  fdsAfterClose: number;
  /** Sockets on the server's port (/proc/net/tcp, listener and TIME_WAIT aside): all idle, after the close. */
  connectionsIdle: number;
  connectionsAfterClose: number;
  /** Wall seconds the client took to open every connection and get its answer. */
  openSeconds: number;
}

export interface IdleSetupResult {
  name: string;
  server: string;
  failure?: string;
  notes: string[];
  rounds: IdleRound[];
  /** Median over rounds. */
  kbPerConnection: number;
}

export interface IdleMemoryMeasurement {
  connections: number;
  /** Connections the client opens at once (and the warm-up's size). */
  concurrency: number;
  setups: IdleSetupResult[];
}

export interface ScenarioResult {
  scenario: string;
  issue: number;
  description: string;
  kind: 'http' | 'planning' | 'deploy' | 'deploy-ssh' | 'idle-memory';
  settings: RunSettings;
  machine: MachineInfo;
  /** For http scenarios: the load applied. */
  load?: Record<string, unknown>;
  setups: SetupResult[];
  planning?: PlanningMeasurement[];
  deploy?: DeployMeasurement;
  deploySsh?: DeploySshMeasurement;
  idle?: IdleMemoryMeasurement;
  figures: FigureResult[];
  /** Everything that went wrong; non-empty means the scenario errored (exit code 1). */
  errors: string[];
  wallSeconds: number;
}
