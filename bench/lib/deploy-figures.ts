/**
 * The pure side of the deploy scenario: what a `nodix deploy` run printed and whom it contacted, read into
 * values, and the rounds turned into the report's figures. Tested by tables in ../test/deploy.test.ts.
 */
import type { DeployContacts, DeployRound, DeploySshRound, FigureResult } from './result-types.js';
import { median, sameRoundRatios, type Target, verdict } from './stats.js';

export interface CoordinatorOutput {
  /** Targets named by a `[target: X]` step line: the ones the coordinator did something to. */
  touchedTargets: string[];
  /** The coordinator found nothing to activate or deactivate. */
  nothingToDo: boolean;
  /** `built manifests: ... (N ms)`. */
  buildMs: number | undefined;
  /** `activate: N service(s) in M ms` and the same for deactivate: the phases' own times. */
  activateMs: number | undefined;
  deactivateMs: number | undefined;
  /** What the agents did, in order: `test2: deactivated webapp20 (stopped)`, `test2: activated webapp20 (started)`. */
  actions: string[];
}

export function parseCoordinatorOutput(stdout: string): CoordinatorOutput {
  const touched = new Set<string>();
  const actions: string[] = [];
  let nothingToDo = false;
  let buildMs: number | undefined;
  let activateMs: number | undefined;
  let deactivateMs: number | undefined;
  for (const line of stdout.split('\n')) {
    const target = /^\[target: ([^\]]+)\]/.exec(line)?.[1];
    if (target !== undefined) {
      touched.add(target);
      const action = /\b(activated|deactivated) (\S+): (\w+)/.exec(line);
      if (action) actions.push(`${target}: ${action[1]} ${action[2]} (${action[3]})`);
      continue;
    }
    if (/nothing to activate or deactivate/.test(line)) nothingToDo = true;
    const built = /built manifests: .*\((\d+) ms\)$/.exec(line);
    if (built) buildMs = Number(built[1]);
    const phase = /\] \+\S+ (activate|deactivate): \d+ service\(s\) in (\d+) ms$/.exec(line);
    if (phase?.[1] === 'activate') activateMs = Number(phase[2]);
    if (phase?.[1] === 'deactivate') deactivateMs = Number(phase[2]);
  }
  return { touchedTargets: [...touched].sort(), nothingToDo, buildMs, activateMs, deactivateMs, actions };
}

/** What `count-connections.mjs` writes: connections by `tcp host:port` / `local ...` (and `failed ...`), requests by Host. */
export interface RawContacts {
  connections: Record<string, number>;
  requests: Record<string, number>;
}

const tcpPort = (where: string) => Number(/^tcp \S*:(\d+)$/.exec(where)?.[1]);
const hostPort = (where: string) => Number(/:(\d+)$/.exec(where)?.[1]);

/**
 * Raw counts by destination → per target (by agent port) and anything else a deploy reached. Agents and services
 * listen on TCP only, so Unix-socket attempts (tsx looking for a parent tsx process) are kept apart in `local`.
 */
export function summarizeContacts(raw: RawContacts, agentPorts: Record<string, number>): DeployContacts {
  const targetOf = new Map(Object.entries(agentPorts).map(([target, port]) => [port, target]));
  const contacts: DeployContacts = { agentRequests: {}, agentConnections: {}, other: {}, local: {} };
  for (const [where, n] of Object.entries(raw.connections)) {
    const target = targetOf.get(tcpPort(where));
    if (target !== undefined)
      contacts.agentConnections[target] = (contacts.agentConnections[target] ?? 0) + n;
    else if (/^(failed )?local\b/.test(where)) contacts.local[where] = n;
    else contacts.other[`connection ${where}`] = n;
  }
  for (const [where, n] of Object.entries(raw.requests)) {
    const target = targetOf.get(hostPort(where));
    if (target !== undefined) contacts.agentRequests[target] = (contacts.agentRequests[target] ?? 0) + n;
    else contacts.other[`request ${where}`] = n;
  }
  return contacts;
}

/** Every TCP connection (attempted or made) and HTTP request a deploy made, to agents or anything else. */
export function totalContacts(contacts: DeployContacts): number {
  const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
  return sum(contacts.agentRequests) + sum(contacts.agentConnections) + sum(contacts.other);
}

/** One deployed service as its agent reports it, with its process's start time from /proc. */
export interface ServiceSnapshot {
  target: string;
  pid: number;
  startTime: string;
  hash: string;
  restarts: number;
  state: string;
}

/** What was observed around the unchanged redeploy: before and after, per agent or per service. */
export interface UnchangedObservation {
  contacts: DeployContacts;
  output: CoordinatorOutput;
  /** Lines each agent had printed, before and after. */
  agentLines: [number[], number[]];
  /** Each agent's state file mtime, before and after. */
  stateMtimes: [number[], number[]];
  services: [Map<string, ServiceSnapshot>, Map<string, ServiceSnapshot>];
}

/** Everything that shows the unchanged redeploy reached an agent or a service; empty when it reached none. */
export function unchangedProblems(seen: UnchangedObservation): string[] {
  const problems: string[] = [];
  if (totalContacts(seen.contacts) > 0) {
    problems.push(`the coordinator made connections or requests: ${JSON.stringify(seen.contacts)}`);
  }
  if (!seen.output.nothingToDo)
    problems.push('the coordinator did not report "nothing to activate or deactivate"');
  if (seen.output.touchedTargets.length > 0) {
    problems.push(`the coordinator reported steps on ${seen.output.touchedTargets.join(', ')}`);
  }
  const changed = ([before, after]: [number[], number[]]) => after.some((n, i) => n !== before[i]);
  if (changed(seen.agentLines)) problems.push('an agent logged something');
  if (changed(seen.stateMtimes)) problems.push("an agent's state file was written");
  const [before, after] = seen.services;
  for (const [name, was] of before) {
    const now = after.get(name);
    if (!now || now.pid !== was.pid || now.startTime !== was.startTime) {
      problems.push(`${name} has a new process (pid ${was.pid} → ${now?.pid ?? 'gone'})`);
    } else if (now.hash !== was.hash) problems.push(`${name} changed identity`);
    else if (now.restarts !== was.restarts) problems.push(`${name} restarted`);
  }
  for (const name of after.keys()) if (!before.has(name)) problems.push(`${name} appeared`);
  return problems;
}

/** Steps of a round, in report order, with their labels. */
export const DEPLOY_STEPS = [
  ['directMs', 'direct start'],
  ['deployMs', 'nodix deploy from nothing'],
  ['unchangedMs', 'redeploy, nothing changed'],
  ['oneWebappMs', 'redeploy, one webapp changed'],
  ['undeployMs', 'nodix deploy --undeploy'],
] as const;

export type DeployStep = (typeof DEPLOY_STEPS)[number][0];

export function stepTimes(rounds: readonly DeployRound[], step: DeployStep): number[] {
  return rounds.map((round) => round[step]);
}

/**
 * The judged figure (deploy from nothing over direct start, median of same-round ratios, issue 5: <= 1.5x), the
 * medians of every step, and the unchanged redeploy's contacts (must be 0; a non-zero count is also an error).
 */
export function deployFigures(
  rounds: readonly DeployRound[],
  options: { maxRatio: number; judge: boolean; changedWebapp: string },
): FigureResult[] {
  if (rounds.length === 0) return [];
  const target: Target = { max: options.maxRatio };
  const direct = stepTimes(rounds, 'directMs');
  const ratio = sameRoundRatios(stepTimes(rounds, 'deployMs'), direct);
  const figures: FigureResult[] = [
    {
      label: 'nodix deploy from nothing / direct start (median of same-round ratios)',
      metric: 'deployOverDirect',
      value: ratio.median,
      perRound: ratio.perRound,
      unit: 'x',
      target,
      verdict: options.judge ? verdict(ratio.median, target) : 'n/a',
    },
  ];
  for (const [step, label] of DEPLOY_STEPS) {
    const times = stepTimes(rounds, step);
    figures.push({
      label: step === 'oneWebappMs' ? `redeploy, ${options.changedWebapp} changed` : label,
      metric: step,
      value: median(times),
      perRound: times,
      unit: 'ms',
      verdict: 'n/a',
    });
  }
  const none: Target = { max: 0 };
  const contacted = Math.max(...rounds.map((round) => totalContacts(round.contacts.unchanged)));
  figures.push({
    label:
      'TCP connections + HTTP requests of the unchanged redeploy (to agents or services; max over rounds)',
    metric: 'unchangedContacts',
    value: contacted,
    unit: '',
    target: none,
    verdict: options.judge ? verdict(contacted, none) : 'n/a',
  });
  return figures;
}

/**
 * The judged figure (deploy from nothing over SSH / over HTTP, median of same-round ratios, issue 13: <= 1.3x), the
 * other steps' ratios and medians, and the SSH connections of the unchanged redeploy (must be 0).
 */
export function deploySshFigures(
  rounds: readonly DeploySshRound[],
  options: { maxRatio: number; judge: boolean },
): FigureResult[] {
  if (rounds.length === 0) return [];
  const judged = (value: number, target: Target) => (options.judge ? verdict(value, target) : 'n/a');
  const figures: FigureResult[] = [];
  const steps = [
    ['deployMs', 'nodix deploy from nothing'],
    ['unchangedMs', 'redeploy, nothing changed'],
    ['undeployMs', 'nodix deploy --undeploy'],
  ] as const;
  for (const [step, label] of steps) {
    const ssh = rounds.map((r) => r.ssh[step]);
    const http = rounds.map((r) => r.http[step]);
    const ratio = sameRoundRatios(ssh, http);
    const target: Target | undefined = step === 'deployMs' ? { max: options.maxRatio } : undefined;
    figures.push(
      {
        label: `${label}: over SSH / over HTTP (median of same-round ratios)`,
        metric: `${step}SshOverHttp`,
        value: ratio.median,
        perRound: ratio.perRound,
        unit: 'x',
        ...(target ? { target } : {}),
        verdict: target ? judged(ratio.median, target) : 'n/a',
      },
      ...(
        [
          ['SSH', ssh],
          ['HTTP', http],
        ] as const
      ).map(([name, times]) => ({
        label: `${label} over ${name}`,
        metric: `${step}${name}`,
        value: median(times),
        perRound: times,
        unit: 'ms',
        verdict: 'n/a' as const,
      })),
    );
  }
  const none: Target = { max: 0 };
  const opened = Math.max(
    ...rounds.map((r) => Object.values(r.ssh.sshConnections?.unchanged ?? {}).reduce((a, b) => a + b, 0)),
  );
  figures.push({
    label: 'SSH connections opened by the unchanged redeploy (all targets, sshd logs; max over rounds)',
    metric: 'unchangedSshConnections',
    value: opened,
    unit: '',
    target: none,
    verdict: judged(opened, none),
  });
  const perDeploy = Math.max(...rounds.flatMap((r) => Object.values(r.ssh.sshConnections?.deploy ?? {})));
  figures.push({
    label: 'SSH connections per target of the deploy from nothing (max over targets and rounds)',
    metric: 'deploySshConnectionsPerTarget',
    value: perDeploy,
    unit: '',
    verdict: 'n/a',
  });
  return figures;
}
