/**
 * Running the planning scenario: the deployer library plans 100 .. 10 000 services in a child process pinned to
 * the servers' core (`planning-worker.ts`), and the report gives the median time per step and how it grows.
 */
import { fileURLToPath } from 'node:url';
import type { PlanningScenario } from '../scenarios/types.js';
import type { Pinning } from './pinning.js';
import type { PlanningWorkerResult } from './planning-worker.js';
import { startProcess } from './processes.js';
import type {
  FigureResult,
  MachineInfo,
  PlanningMeasurement,
  RunSettings,
  ScenarioResult,
} from './result-types.js';
import { growthExponent, median, type Target, verdict } from './stats.js';

const workerPath = fileURLToPath(new URL('./planning-worker.ts', import.meta.url));

/**
 * "Near-linear" (issue 4) read as: time grows at most like n^1.2 from 1 000 to 10 000 services. From 100 the
 * fixed costs of a run still dominate, so that span is reported but not judged.
 */
const NEAR_LINEAR: Target = { max: 1.2 };

export function planningFigures(rows: readonly PlanningMeasurement[], judge: boolean): FigureResult[] {
  const figures: FigureResult[] = [];
  const bySize = new Map(rows.map((r) => [r.services, r]));
  const from = bySize.get(1000);
  const to = bySize.get(10_000);
  if (!from || !to) return figures;
  const steps = [...Object.keys(to.stepsMs), 'total'];
  for (const step of steps) {
    const t1 = step === 'total' ? from.totalMs : (from.stepsMs[step] ?? Number.NaN);
    const t2 = step === 'total' ? to.totalMs : (to.stepsMs[step] ?? Number.NaN);
    const value = growthExponent(from.services, t1, to.services, t2);
    figures.push({
      label: `growth exponent of ${step}, 1 000 → 10 000 services (1 = linear)`,
      metric: `growth:${step}`,
      value,
      unit: '',
      target: NEAR_LINEAR,
      verdict: judge ? verdict(value, NEAR_LINEAR) : 'n/a',
    });
  }
  figures.push({
    label: 'total planning time, 10 000 services',
    metric: 'totalMs',
    value: to.totalMs,
    unit: 'ms',
    verdict: 'n/a',
  });
  return figures;
}

export async function runPlanningScenario(
  scenario: PlanningScenario,
  settings: RunSettings,
  pinning: Pinning,
  machine: MachineInfo,
): Promise<ScenarioResult> {
  const started = Date.now();
  const errors: string[] = [];
  let planning: PlanningMeasurement[] = [];
  // Bounded like every load: a planner gone quadratic must end the run with an error, not hang CI.
  const limitMs = settings.mode === 'quick' ? 120_000 : 900_000;
  let worker: Awaited<ReturnType<typeof startProcess>> | undefined;
  try {
    worker = await startProcess({
      label: 'planning worker',
      command: process.execPath,
      args: [
        '--expose-gc',
        '--import',
        'tsx',
        workerPath,
        JSON.stringify({
          serviceCounts: scenario.serviceCounts,
          targets: scenario.targets,
          rounds: settings.rounds,
        }),
      ],
      prefix: pinning.serverPrefix,
      ready: { line: /^planning worker ready$/ },
      readyTimeoutMs: 60_000,
      onLine: (line) => {
        if (line.startsWith('[bench]')) process.stderr.write(`${line}\n`);
      },
    });
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), limitMs).unref());
    if ((await Promise.race([worker.exited, timer])) === 'timeout') {
      throw new Error(`planning did not finish within ${limitMs / 1000} s`);
    }
    const line = worker
      .outputTail()
      .split('\n')
      .find((l) => l.startsWith('RESULT '));
    if (!line || worker.exit?.code !== 0)
      throw new Error(`planning worker failed (exit code ${worker.exit?.code}):\n${worker.outputTail()}`);
    const result = JSON.parse(line.slice('RESULT '.length)) as PlanningWorkerResult;
    planning = result.sizes.map((size) => {
      const steps = Object.keys(size.rounds[0] ?? {}) as (keyof (typeof size.rounds)[number])[];
      const stepsMs = Object.fromEntries(
        steps.map((step) => [step, median(size.rounds.map((r) => r[step]))]),
      );
      const totalMs = median(size.rounds.map((r) => steps.reduce((sum, step) => sum + r[step], 0)));
      // The example places every web app and one proxy per target; anything else means the plan is wrong.
      const expected = size.services + size.targets;
      if (size.instances !== expected) {
        errors.push(
          `${size.services} services: the manifest holds ${size.instances} instances, expected ${expected}`,
        );
      }
      return { services: size.services, targets: size.targets, stepsMs, totalMs };
    });
  } catch (error) {
    errors.push((error as Error).message);
  } finally {
    await worker?.stop();
  }
  return {
    scenario: scenario.name,
    issue: scenario.issue,
    description: scenario.description,
    kind: 'planning',
    settings,
    machine,
    setups: [],
    planning,
    figures: planningFigures(planning, settings.mode === 'full'),
    errors,
    wallSeconds: (Date.now() - started) / 1000,
  };
}
