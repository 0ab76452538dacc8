/**
 * Running one HTTP scenario: start the backends and every compared setup once, warm each up, then interleave
 * them round by round (the order rotates each round so no setup always runs first or right after another),
 * measuring every load, and summarise. Whatever happens, every started process is stopped before returning.
 */
import { join } from 'node:path';
import type { FigureSpec, HttpScenario, Metric } from '../scenarios/types.js';
import { buildCorpus, writeCorpusFile } from './corpus.js';
import { type LoadOptions, type MeasuredLoad, runLoad } from './load.js';
import type { Pinning } from './pinning.js';
import { type RunningProcess, scenarioTempDir } from './processes.js';
import type {
  FigureResult,
  MachineInfo,
  RunSettings,
  ScenarioResult,
  SetupResult,
  SetupSummary,
} from './result-types.js';
import {
  type Backend,
  makeBenchCertificate,
  type StartedSetup,
  startBackends,
  startSetup,
} from './setups.js';
import { median, sameRoundRatios, verdict } from './stats.js';

const MB = 1024 * 1024;

function failedRequests(load: MeasuredLoad): number {
  return load.errors + load.timeouts + load.non2xx + load.mismatches;
}

/** The per-round value of a metric, for ratios. */
function roundValue(load: MeasuredLoad, metric: Metric): number {
  switch (metric) {
    case 'processHwmMaxMB':
      return load.processHwmMaxBytes / MB;
    case 'treeRssPeakMB':
      return load.treeRssPeakBytes / MB;
    case 'failedRequests':
      return failedRequests(load);
    default:
      return load[metric];
  }
}

export function summarise(rounds: readonly MeasuredLoad[]): SetupSummary {
  const sum = (pick: (load: MeasuredLoad) => number) => rounds.reduce((total, load) => total + pick(load), 0);
  return {
    requestsPerSecond: median(rounds.map((r) => r.requestsPerSecond)),
    latencyP50Ms: median(rounds.map((r) => r.latencyP50Ms)),
    latencyP99Ms: median(rounds.map((r) => r.latencyP99Ms)),
    cpuMicrosPerRequest: median(rounds.map((r) => r.cpuMicrosPerRequest)),
    // Memory: the worst round, since a limit holds only if it holds every time.
    treeRssPeakMB: Math.max(...rounds.map((r) => r.treeRssPeakBytes)) / MB,
    processHwmMaxMB: Math.max(...rounds.map((r) => r.processHwmMaxBytes)) / MB,
    failedRequests: sum(failedRequests),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    non2xx: sum((r) => r.non2xx),
    mismatches: sum((r) => r.mismatches),
  };
}

export function computeFigures(
  specs: readonly FigureSpec[],
  setups: readonly SetupResult[],
  judge: boolean,
): FigureResult[] {
  const byName = new Map(setups.map((s) => [s.name, s]));
  return specs.map((spec) => {
    const shown = (value: number, target = spec.target) => (judge ? verdict(value, target) : 'n/a');
    if (spec.kind === 'ratio') {
      const of = byName.get(spec.of);
      const over = byName.get(spec.over);
      const usable = of && over && !of.failure && !over.failure;
      const { perRound, median: value } = usable
        ? sameRoundRatios(
            of.rounds.map((r) => roundValue(r, spec.metric)),
            over.rounds.map((r) => roundValue(r, spec.metric)),
          )
        : { perRound: [], median: Number.NaN };
      return {
        label: spec.label,
        metric: spec.metric,
        value,
        perRound,
        unit: 'x',
        verdict: shown(value),
        ...(spec.target ? { target: spec.target } : {}),
      };
    }
    const setup = byName.get(spec.setup);
    const value = setup?.summary && !setup.failure ? setup.summary[spec.metric] : Number.NaN;
    const unit = spec.metric.endsWith('MB') ? 'MB' : spec.metric.endsWith('Ms') ? 'ms' : '';
    return {
      label: spec.label,
      metric: spec.metric,
      value,
      unit,
      verdict: shown(value),
      ...(spec.target ? { target: spec.target } : {}),
    };
  });
}

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

export async function runHttpScenario(
  scenario: HttpScenario,
  settings: RunSettings,
  pinning: Pinning,
  machine: MachineInfo,
): Promise<ScenarioResult> {
  const started = Date.now();
  const errors: string[] = [];
  const { dir, remove: removeDir } = await scenarioTempDir(scenario.name);
  const procs: RunningProcess[] = [];
  const results: SetupResult[] = scenario.setups.map((spec) => ({
    name: spec.name,
    server: '',
    rounds: [],
    notes: [],
  }));
  const live: (StartedSetup | undefined)[] = [];
  const fail = (index: number, message: string) => {
    const result = results[index]!;
    result.failure ??= message;
    errors.push(`${result.name}: ${message}`);
    live[index] = undefined;
  };

  const { corpus, ...loadSpec } = scenario.load;
  let corpusFile: string | undefined;
  let corpusFacts: Record<string, number> | undefined;

  try {
    if ((loadSpec.generator === 'wrk') !== (corpus !== undefined || loadSpec.https !== undefined))
      throw new Error(
        `${scenario.name}: a corpus is replayed by wrk, and wrk replays only a corpus or loads HTTPS`,
      );
    const tls = loadSpec.https === undefined ? undefined : makeBenchCertificate(dir);
    if (corpus) {
      const heads = buildCorpus(corpus);
      corpusFile = join(dir, 'corpus.http');
      await writeCorpusFile(corpusFile, heads);
      const bytes = heads.reduce((total, head) => total + Buffer.byteLength(head), 0);
      corpusFacts = {
        distinctHeads: new Set(heads).size,
        bytes,
        meanHeadBytes: Math.round(bytes / heads.length),
      };
    }
    const backends: Backend[] = [];
    try {
      await startBackends(scenario.backends, pinning, backends);
    } finally {
      procs.push(...backends.map((b) => b.proc));
    }
    for (const [index, spec] of scenario.setups.entries()) {
      try {
        const setup = await startSetup(spec, index, { dir, pinning, backends, ...(tls ? { tls } : {}) });
        if (setup.proc && !procs.includes(setup.proc)) procs.push(setup.proc);
        live[index] = setup;
        results[index]!.server = setup.description;
        // Shared, so notes added while loading (reload counts) land in the report too.
        results[index]!.notes = setup.notes;
      } catch (error) {
        fail(index, (error as Error).message);
      }
    }

    const loadFor = (setup: StartedSetup, durationSeconds: number): LoadOptions => ({
      url: setup.url,
      durationSeconds,
      ...loadSpec,
      ...(corpusFile ? { corpusFile } : {}),
    });
    const measure = async (
      index: number,
      durationSeconds: number,
      what: string,
    ): Promise<MeasuredLoad | undefined> => {
      const setup = live[index];
      if (!setup) return undefined;
      try {
        const load = await runLoad(
          loadFor(setup, durationSeconds),
          setup.measuredPids,
          pinning,
          setup.during,
        );
        if (setup.proc?.exit)
          throw new Error(
            `server exited during the load (code ${setup.proc.exit.code}):\n${setup.proc.outputTail()}`,
          );
        const failed = failedRequests(load);
        log(
          `${scenario.name} ${what} ${scenario.setups[index]!.name}: ${Math.round(load.requestsPerSecond)} req/s, ` +
            `p99 ${load.latencyP99Ms} ms${failed ? `, ${failed} FAILED requests ${JSON.stringify(load.statusCodes)}` : ''}`,
        );
        if (failed > 0) {
          errors.push(
            `${scenario.setups[index]!.name} (${what}): ${load.errors} errors, ${load.timeouts} timeouts, ${load.non2xx} non-2xx, ${load.mismatches} body mismatches`,
          );
        }
        if (load.requests === 0)
          errors.push(`${scenario.setups[index]!.name} (${what}): no request completed`);
        return load;
      } catch (error) {
        fail(index, (error as Error).message);
        return undefined;
      }
    };

    if (settings.warmupSeconds > 0) {
      for (const index of scenario.setups.keys()) await measure(index, settings.warmupSeconds, 'warm-up');
    }
    const count = scenario.setups.length;
    for (let round = 0; round < settings.rounds; round++) {
      for (let step = 0; step < count; step++) {
        const index = (step + round) % count;
        const load = await measure(index, settings.durationSeconds, `round ${round + 1}/${settings.rounds}`);
        if (load) results[index]!.rounds[round] = load;
      }
    }
  } catch (error) {
    errors.push((error as Error).message);
  } finally {
    for (const proc of [...procs].reverse()) await proc.stop();
    await removeDir();
  }

  for (const result of results) {
    const rounds = result.rounds.filter(Boolean);
    if (rounds.length > 0) result.summary = summarise(rounds);
  }
  return {
    scenario: scenario.name,
    issue: scenario.issue,
    description: scenario.description,
    kind: 'http',
    settings,
    machine,
    load: {
      ...scenario.load,
      ...(corpus ? { corpus: { ...corpus, ...corpusFacts } } : {}),
      durationSeconds: settings.durationSeconds,
    },
    setups: results,
    figures: computeFigures(scenario.figures, results, settings.mode === 'full'),
    errors,
    wallSeconds: (Date.now() - started) / 1000,
  };
}
