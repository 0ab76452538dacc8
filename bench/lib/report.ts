/**
 * Reporting: each scenario's result as JSON (`results/<scenario>.json`) and all results in the directory as one
 * Markdown file (`results/README.md`), also printed. Rendering is pure; writing is at the bottom.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEPLOY_STEPS, stepTimes, totalContacts } from './deploy-figures.js';
import type { DeployContacts, FigureResult, MachineInfo, ScenarioResult } from './result-types.js';
import { describeTarget, growthExponent, median, sameRoundRatios } from './stats.js';

function num(value: number | undefined, digits = 1): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  return value.toFixed(digits).replace(/\.0+$/, '');
}

function figureValue(figure: FigureResult): string {
  if (!Number.isFinite(figure.value)) return '–';
  if (figure.unit === 'x') return `${figure.value.toFixed(2)}x`;
  // Unitless figures are exponents and counts: two decimals show 1.05 vs 1.15, and a count prints as itself.
  return figure.unit ? `${num(figure.value)} ${figure.unit}` : num(figure.value, 2);
}

function renderFigures(result: ScenarioResult): string[] {
  if (result.figures.length === 0) return [];
  const judged = result.settings.mode === 'full';
  return [
    '',
    `| figure | value | per round | target | ${judged ? 'verdict' : 'verdict (quick mode: not judged)'} |`,
    '|---|---:|---|---|---|',
    ...result.figures.map(
      (f) =>
        `| ${f.label} | ${figureValue(f)} | ${(f.perRound ?? []).map((v) => num(v, 2)).join(' ')} | ${describeTarget(f.target)} | ${f.verdict} |`,
    ),
  ];
}

function renderHttp(result: ScenarioResult): string[] {
  const lines = [
    '| setup | req/s | p50 ms | p99 ms | errors | timeouts | non-2xx | mismatches | CPU µs/req | peak RSS MB (tree) | max RSS MB (one process) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const setup of result.setups) {
    const s = setup.summary;
    lines.push(
      s
        ? `| ${setup.name} | ${num(s.requestsPerSecond, 0)} | ${num(s.latencyP50Ms)} | ${num(s.latencyP99Ms)} | ${s.errors} | ${s.timeouts} | ${s.non2xx} | ${s.mismatches} | ${num(s.cpuMicrosPerRequest)} | ${num(s.treeRssPeakMB)} | ${num(s.processHwmMaxMB)} |`
        : `| ${setup.name} | FAILED | | | | | | | | | |`,
    );
  }
  const notes = result.setups.flatMap((s) => [
    ...(s.server ? [`- ${s.name}: ${s.server}`] : []),
    ...[...new Set(s.notes)].map((n) => `  - ${n}`),
  ]);
  return [...lines, ...renderFigures(result), '', ...notes];
}

function renderPlanning(result: ScenarioResult): string[] {
  const rows = result.planning ?? [];
  const steps = [...new Set(rows.flatMap((r) => Object.keys(r.stepsMs)))];
  const lines = [
    `| services × targets | ${steps.map((s) => `${s} ms`).join(' | ')} | total ms | growth exponent vs previous size |`,
    `|---|${steps.map(() => '---:|').join('')}---:|---:|`,
  ];
  rows.forEach((row, i) => {
    const previous = rows[i - 1];
    const growth = previous
      ? growthExponent(previous.services, previous.totalMs, row.services, row.totalMs)
      : Number.NaN;
    lines.push(
      `| ${row.services} × ${row.targets} | ${steps.map((s) => num(row.stepsMs[s], 2)).join(' | ')} | ${num(row.totalMs, 2)} | ${num(growth, 2)} |`,
    );
  });
  return [...lines, ...renderFigures(result)];
}

function describeContacts(contacts: DeployContacts | undefined): string {
  if (!contacts) return '–';
  if (totalContacts(contacts) === 0) return 'none (0 TCP connections, 0 requests)';
  const agents = Object.entries(contacts.agentRequests).map(
    ([target, n]) => `${target}: ${n} req / ${contacts.agentConnections[target] ?? 0} conn`,
  );
  const other = Object.entries(contacts.other).map(([where, n]) => `${where}: ${n}`);
  return [...agents, ...other].join(', ');
}

function renderDeploy(result: ScenarioResult): string[] {
  const deploy = result.deploy;
  if (!deploy || deploy.rounds.length === 0) return [...renderFigures(result)];
  const { rounds } = deploy;
  const last = rounds.at(-1)!;
  const contactsOf: Record<string, DeployContacts | undefined> = {
    deployMs: last.contacts.deploy,
    unchangedMs: last.contacts.unchanged,
    oneWebappMs: last.contacts.oneWebapp,
    undeployMs: last.contacts.undeploy,
  };
  const direct = stepTimes(rounds, 'directMs');
  const lines = [
    '| step | median ms | per round ms | / direct start (median of same-round ratios) | agents contacted (last round) |',
    '|---|---:|---|---:|---|',
  ];
  for (const [step, label] of DEPLOY_STEPS) {
    const times = stepTimes(rounds, step);
    const name =
      step === 'directMs'
        ? `direct start (${deploy.webapps} nodix-webapp + ${deploy.targets.length} nodix-proxy, until each is ready)`
        : step === 'oneWebappMs'
          ? `redeploy, ${deploy.changedWebapp} changed`
          : label;
    const ratio = step === 'directMs' ? '' : `${sameRoundRatios(times, direct).median.toFixed(2)}x`;
    const contacts =
      step === 'directMs' ? '(none: started by the harness)' : describeContacts(contactsOf[step]);
    lines.push(
      `| ${name} | ${num(median(times), 0)} | ${times.map((t) => num(t, 0)).join(' ')} | ${ratio} | ${contacts} |`,
    );
  }
  const build = median(rounds.map((r) => r.deployBuildMs ?? Number.NaN));
  const activate = median(rounds.map((r) => r.deployActivateMs ?? Number.NaN));
  return [
    ...lines,
    ...renderFigures(result),
    '',
    `- deploy from nothing, as its own output times it (median): built manifests ${num(build, 0)} ms, activate phase ${num(activate, 0)} ms; the rest is process start-up, model loading, locking and recording the generation.`,
    `- one-webapp redeploy (last round): ${last.oneWebappActions.join(', ') || 'no agent action'}; new processes: ${last.oneWebappNewPids.join(', ')}.`,
    ...deploy.commands.map((command) => `- timed: \`${command}\``),
    ...deploy.checks.map((check) => `- verified: ${check}`),
  ];
}

function renderDeploySsh(result: ScenarioResult): string[] {
  const measured = result.deploySsh;
  return [
    ...renderFigures(result),
    '',
    ...(measured?.commands ?? []).map((command) => `- timed: \`${command}\``),
    ...(measured?.checks ?? []).map((check) => `- verified: ${check}`),
  ];
}

const MB = 1024 * 1024;

function renderIdle(result: ScenarioResult): string[] {
  const idle = result.idle;
  if (!idle) return [...renderFigures(result)];
  const lines = [
    '| setup | KB per idle connection (median) | per round | RSS MB before → idle (last round) | server fds before → idle → after close (last round) | connections on its port idle → after close | s to open all |',
    '|---|---:|---|---|---|---|---:|',
  ];
  for (const setup of idle.setups) {
    const rounds = setup.rounds.filter(Boolean);
    const last = rounds.at(-1);
    lines.push(
      setup.failure || !last
        ? `| ${setup.name} | FAILED | | | | | |`
        : `| ${setup.name} | ${num(setup.kbPerConnection, 2)} | ${rounds.map((r) => num(r.kbPerConnection, 2)).join(' ')} | ${num(last.rssBeforeBytes / MB)} → ${num(last.rssAfterBytes / MB)} (samples ${last.rssIdleSamplesBytes.map((b) => num(b / MB)).join(', ')}) | ${last.fdsBefore} → ${last.fdsIdle} → ${last.fdsAfterClose} | ${last.connectionsIdle} → ${last.connectionsAfterClose} | ${num(last.openSeconds, 2)} |`,
    );
  }
  const notes = idle.setups.flatMap((s) => [
    ...(s.server ? [`- ${s.name}: ${s.server}`] : []),
    ...s.notes.map((n) => `  - ${n}`),
  ]);
  return [...lines, ...renderFigures(result), '', ...notes];
}

/** The load of an HTTP scenario in one phrase: connections, method, and the hosts or the corpus replayed. */
function describeLoad(load: Record<string, unknown> | undefined): string {
  const corpus = load?.corpus as Record<string, number> | undefined;
  const what = corpus
    ? `wrk replaying a corpus of ${corpus.heads} distinct GET heads (seed ${corpus.seed}, ${corpus.hosts} of ${corpus.tableHosts} hosts, ${corpus.meanHeadBytes ?? '?'} bytes per head on average; wrk loads for whole seconds: ${Math.max(1, Math.round(Number(load?.durationSeconds)))} s)`
    : `${String(load?.method)} ${String(load?.bodyBytes) !== '0' ? `${String(load?.bodyBytes)}-byte bodies ` : ''}Host ${(load?.hosts as string[] | undefined)?.join(', ')}`;
  return `${String(load?.connections)} connections, ${what}`;
}

export function renderScenario(result: ScenarioResult): string {
  const { settings } = result;
  const how =
    result.kind === 'http'
      ? `${settings.rounds} round(s) × ${settings.durationSeconds} s of load per setup${settings.warmupSeconds ? ` after a ${settings.warmupSeconds} s warm-up` : ''}, ${describeLoad(result.load)}`
      : result.kind === 'deploy'
        ? `${settings.rounds} round(s), direct start and the deploy steps interleaved (order rotated each round)${settings.warmupSeconds ? ' after one unmeasured warm-up round' : ''}`
        : result.kind === 'deploy-ssh'
          ? `${settings.rounds} round(s), the SSH and HTTP transports' steps interleaved (order rotated each round)${settings.warmupSeconds ? ' after one unmeasured warm-up round' : ''}`
          : result.kind === 'idle-memory'
            ? `${settings.rounds} round(s), each setup started afresh every round (order rotated), ${result.idle?.connections} idle connections opened ${result.idle?.concurrency} at a time`
            : `median of ${settings.rounds} run(s) per size`;
  const lines = [
    `## ${result.scenario} (issue ${result.issue})`,
    '',
    `${result.description}.`,
    `${settings.mode} mode, ${how}. ${result.machine.pinning}. Measured ${result.machine.date}, ${num(result.wallSeconds)} s.`,
    '',
    ...(result.kind === 'http'
      ? renderHttp(result)
      : result.kind === 'deploy'
        ? renderDeploy(result)
        : result.kind === 'deploy-ssh'
          ? renderDeploySsh(result)
          : result.kind === 'idle-memory'
            ? renderIdle(result)
            : renderPlanning(result)),
  ];
  if (result.errors.length > 0)
    lines.push('', '**Errors:**', ...result.errors.map((e) => `- ${e.replace(/\n/g, '\n  ')}`));
  return `${lines.join('\n')}\n`;
}

export function renderMachine(machine: MachineInfo): string {
  return `Machine: ${machine.hostname}, ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}, ${machine.nginx ?? 'nginx not installed'}${machine.wrk ? `, ${machine.wrk}` : ''}.`;
}

export function renderReadme(results: readonly ScenarioResult[]): string {
  const header = [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (see ../README.md for what every figure means). Ratios are medians of same-round',
    'ratios; PASS/MISS compares them with the issue targets and is information only.',
    '',
    ...[...new Set(results.map((r) => renderMachine(r.machine)))],
    '',
  ];
  return `${[...header, ...results.map(renderScenario)].join('\n')}`;
}

export async function writeScenarioResult(dir: string, result: ScenarioResult): Promise<void> {
  await writeFile(join(dir, `${result.scenario}.json`), `${JSON.stringify(result, null, 2)}\n`);
}

/** Re-render README.md from every result in the directory, so running one scenario keeps the others' tables. */
export async function writeReadme(dir: string, order: readonly string[]): Promise<string> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
  const results: ScenarioResult[] = [];
  for (const file of files) {
    try {
      results.push(JSON.parse(await readFile(join(dir, file), 'utf8')) as ScenarioResult);
    } catch {
      // A result from an older harness version or a hand edit: left out of the table rather than failing the run.
    }
  }
  const rank = (name: string) => (order.includes(name) ? order.indexOf(name) : order.length);
  results.sort((a, b) => rank(a.scenario) - rank(b.scenario) || a.scenario.localeCompare(b.scenario));
  const text = renderReadme(results);
  await writeFile(join(dir, 'README.md'), text);
  return text;
}
