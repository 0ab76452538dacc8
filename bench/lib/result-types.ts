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

export interface ScenarioResult {
  scenario: string;
  issue: number;
  description: string;
  kind: 'http' | 'planning';
  settings: RunSettings;
  machine: MachineInfo;
  /** For http scenarios: the load applied. */
  load?: Record<string, unknown>;
  setups: SetupResult[];
  planning?: PlanningMeasurement[];
  figures: FigureResult[];
  /** Everything that went wrong; non-empty means the scenario errored (exit code 1). */
  errors: string[];
  wallSeconds: number;
}
