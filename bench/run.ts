/**
 * `npm run bench`: pick the scenarios, pin, run each, write results/<scenario>.json and results/README.md, print
 * the tables. Exit code 1 when a scenario errored (quick mode's whole point, for CI); targets never fail a run.
 */
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { HELP, parseCli, UsageError } from './lib/cli-args.js';
import { runDeployScenario } from './lib/deploy-scenario.js';
import { runDeploySshScenario } from './lib/deploy-ssh-scenario.js';
import { runHttpScenario } from './lib/http-scenario.js';
import { runIdleMemoryScenario } from './lib/idle-memory-scenario.js';
import { describeMachine } from './lib/machine.js';
import { detectPinning, pinSelf } from './lib/pinning.js';
import { runPlanningScenario } from './lib/planning-scenario.js';
import { installCleanup, isInterrupted } from './lib/processes.js';
import { renderMachine, renderScenario, writeReadme, writeScenarioResult } from './lib/report.js';
import type { ScenarioResult } from './lib/result-types.js';
import { scenarios } from './scenarios/index.js';
import type { Scenario } from './scenarios/types.js';

async function runScenario(
  scenario: Scenario,
  settings: Parameters<typeof runHttpScenario>[1],
  pinning: ReturnType<typeof detectPinning>,
): Promise<ScenarioResult> {
  const machine = describeMachine(pinning);
  switch (scenario.kind) {
    case 'http':
      return runHttpScenario(scenario, settings, pinning, machine);
    case 'planning':
      return runPlanningScenario(scenario, settings, pinning, machine);
    case 'deploy':
      return runDeployScenario(scenario, settings, pinning, machine);
    case 'deploy-ssh':
      return runDeploySshScenario(scenario, settings, pinning, machine);
    case 'idle-memory':
      return runIdleMemoryScenario(scenario, settings, pinning, machine);
  }
}

async function main(): Promise<number> {
  let cli: ReturnType<typeof parseCli>;
  try {
    cli = parseCli(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench: ${error.message} (see --help)\n`);
    return 2;
  }
  if (cli.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (cli.list) {
    for (const s of scenarios)
      process.stdout.write(`${s.name.padEnd(18)} issue ${s.issue}  ${s.description}\n`);
    return 0;
  }
  const unknown = cli.scenarios.filter((name) => !scenarios.some((s) => s.name === name));
  if (unknown.length > 0) {
    process.stderr.write(
      `bench: unknown scenario ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}\n`,
    );
    return 2;
  }
  const selected =
    cli.scenarios.length > 0 ? scenarios.filter((s) => cli.scenarios.includes(s.name)) : scenarios;

  const { settings } = cli;
  const pinning = detectPinning();
  pinSelf(pinning);
  installCleanup();
  // Quick runs are noisy by design and go to a gitignored directory; only full-mode results are committed.
  const resultsDir = fileURLToPath(
    new URL(settings.mode === 'quick' ? './results/quick/' : './results/', import.meta.url),
  );
  await mkdir(resultsDir, { recursive: true });

  process.stdout.write(
    `${renderMachine(describeMachine(pinning))}\n${pinning.description}.\n${settings.mode} mode: ${selected.length} scenario(s).\n\n`,
  );
  const started = Date.now();
  const failed: string[] = [];
  for (const scenario of selected) {
    const result = await runScenario(scenario, settings, pinning);
    if (isInterrupted()) break;
    await writeScenarioResult(resultsDir, result);
    process.stdout.write(`${renderScenario(result)}\n`);
    if (result.errors.length > 0) failed.push(scenario.name);
  }
  if (isInterrupted()) return 130;
  await writeReadme(
    resultsDir,
    scenarios.map((s) => s.name),
  );
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(
    failed.length > 0
      ? `bench: ${failed.length} scenario(s) errored: ${failed.join(', ')} (${seconds} s)\n`
      : `bench: ${selected.length} scenario(s) ran without errors (${seconds} s); results in ${resultsDir}\n`,
  );
  return failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `bench: internal error (this is a bug)\n${(error as Error).stack ?? String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
