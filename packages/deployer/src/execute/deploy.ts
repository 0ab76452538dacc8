import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { canonicalJson } from '../agent/activation/types.js';
import { NodixError } from '../errors.js';
import type { AgentAddress, Manifest } from '../plan/types.js';
import { GenerationStore } from './generations.js';
import { type HeldLocks, lockTargets } from './lock.js';
import type { Reporter } from './report.js';
import { type JobFailure, runJobs } from './run-jobs.js';
import type { SshSettings } from './ssh.js';
import { AgentClients, agentAddressesOfManifests } from './targets.js';
import {
  describeTransition,
  isEmptyTransition,
  type Job,
  manifestFromRunning,
  planTransition,
  restrictManifest,
  type Transition,
} from './transition.js';

/**
 * `nodix deploy` as a library: bring the targets from the current generation to a goal (a new manifest or a
 * recorded generation) through locks, deactivation, activation and a recorded generation, rolling back on failure.
 */
export type Goal =
  | { kind: 'manifest'; manifest: Manifest; description: string }
  | { kind: 'generation'; generation: number };

export interface ApplyOptions {
  /** The coordinator's state directory (generations). */
  stateDir: string;
  token: string | undefined;
  /** How to run ssh for targets reached over SSH. */
  ssh?: SshSettings;
  reporter: Reporter;
  /** Default true: lock every target involved. */
  lock?: boolean;
  dryRun?: boolean;
  /** Readiness timeout per activation, passed to the agents. */
  readyTimeoutMs?: number;
  /** The command that resumes a deployment whose rollback failed, given the generation to return to. */
  resumeCommand: (generation: number) => string;
  lockTtlMs?: number;
}

export interface ApplyResult {
  /** The current generation afterwards. */
  generation: number;
  transition: Transition;
  /** False with --dry-run, or when nothing had to change. */
  changed: boolean;
}

/** A deployment that failed; `exitCode` 1. The message names the step, target and service, and what happened next. */
export class DeployError extends NodixError {
  readonly step: string;
  readonly target: string | undefined;
  readonly service: string | undefined;
  readonly rolledBack: boolean;
  constructor(
    message: string,
    details: { step: string; target?: string; service?: string; rolledBack: boolean; cause?: unknown },
  ) {
    super(message, {
      code: details.rolledBack ? 'NODIX_ERR_DEPLOY' : 'NODIX_ERR_ROLLBACK',
      exitCode: 1,
      cause: details.cause,
    });
    this.step = details.step;
    this.target = details.target;
    this.service = details.service;
    this.rolledBack = details.rolledBack;
  }
}

export function lockOwner(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no user name in this environment
  }
  return `nodix deploy by ${user}@${hostname()} pid ${process.pid} (${randomBytes(3).toString('hex')})`;
}

function describeFailure({ job, error }: JobFailure): string {
  return `${job.kind} failed on target ${job.target}, service ${job.service}: ${error.message.replace(/^target \S+: /, '')}`;
}

/** Runs a transition's jobs: deactivations (dependents first), then activations (dependencies first). */
async function execute(
  transition: Transition,
  clients: AgentClients,
  owner: string | undefined,
  reporter: Reporter,
  readyTimeoutMs: number | undefined,
): Promise<JobFailure | undefined> {
  const addresses = new Map(transition.targets.map((plan) => [plan.target, plan.agent]));
  const client = (job: Job) => clients.get(job.target, addresses.get(job.target) as AgentAddress);
  const phases: Array<[string, Job[], (job: Job) => Promise<void>]> = [
    [
      'deactivate',
      transition.deactivate,
      async (job) => {
        const start = reporter.now();
        const answer = await client(job).deactivate(job.service, owner);
        reporter.step(
          job.target,
          `deactivated ${job.service}: ${answer.action} (${reporter.since(start)} ms)`,
        );
      },
    ],
    [
      'activate',
      transition.activate,
      async (job) => {
        const start = reporter.now();
        const answer = await client(job).activate(job.instance!, owner, readyTimeoutMs);
        const { pid, port } = answer.service;
        const where = [pid ? `pid ${pid}` : '', port ? `port ${port}` : ''].filter(Boolean).join(', ');
        reporter.step(
          job.target,
          `activated ${job.service}: ${answer.action}${where ? ` (${where})` : ''} in ${reporter.since(start)} ms`,
        );
      },
    ],
  ];
  for (const [name, jobs, perform] of phases) {
    if (jobs.length === 0) continue;
    const start = reporter.now();
    const result = await runJobs(jobs, perform);
    if (result.failure) {
      reporter.step(
        result.failure.job.target,
        `${name} ${result.failure.job.service} FAILED: ${result.failure.error.message}`,
      );
      return result.failure;
    }
    reporter.step(undefined, `${name}: ${jobs.length} service(s) in ${reporter.since(start)} ms`);
  }
  return undefined;
}

/** What the agents of `targets` run now, as a manifest. */
async function queryRunning(targets: Map<string, AgentAddress>, clients: AgentClients): Promise<Manifest> {
  const { running, unreachable } = await queryReachable(targets, clients);
  const [first] = unreachable.values();
  if (first) throw first;
  return running;
}

/** What the agents that answer run now; the others with the reason (a rollback goes on with those that answer). */
async function queryReachable(
  targets: Map<string, AgentAddress>,
  clients: AgentClients,
): Promise<{ running: Manifest; unreachable: Map<string, Error> }> {
  const unreachable = new Map<string, Error>();
  const answers = await Promise.all(
    [...targets].map(async ([target, agent]) => {
      try {
        const answer = await clients.get(target, agent).services();
        return [{ target, agent, services: answer.services.map((status) => status.instance) }];
      } catch (error) {
        unreachable.set(target, error as Error);
        return [];
      }
    }),
  );
  return { running: manifestFromRunning(answers.flat()), unreachable };
}

/**
 * The lock owner of an unfinished deployment of this state directory whose coordinator is gone (same machine, its
 * PID no longer runs): the locks it left on targets that were cut off are taken over instead of waiting for them to
 * expire, so a resumed deploy proceeds as soon as the target is back.
 */
function ownerToTakeOver(pending: { owner: string; hostname?: string; pid?: number }): string | undefined {
  if (pending.hostname !== hostname() || pending.pid === undefined || pending.pid === process.pid)
    return undefined;
  try {
    process.kill(pending.pid, 0);
    return undefined; // it still runs: its locks are its own
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH' ? pending.owner : undefined;
  }
}

export async function applyGoal(goal: Goal, options: ApplyOptions): Promise<ApplyResult> {
  const { reporter } = options;
  const store = new GenerationStore(options.stateDir);
  const currentGeneration = await store.current();
  const currentManifest = await store.currentManifest();
  const to = goal.kind === 'manifest' ? goal.manifest : (await store.read(goal.generation)).manifest;
  const clients = new AgentClients(options.token, options.ssh);
  try {
    // The transition's starting point: the recorded generation, unless an earlier run was cut short; then what runs.
    const pending = await store.pending();
    let from = currentManifest;
    const takeOver = pending ? ownerToTakeOver(pending) : undefined;
    if (pending) {
      const addresses = agentAddressesOfManifests(to, currentManifest);
      for (const [target, address] of Object.entries(pending.targets)) addresses.set(target, address);
      reporter.step(
        undefined,
        `an earlier deployment (${pending.owner}, ${pending.startedAt}) did not finish: asking the agents what runs`,
      );
      from = await queryRunning(addresses, clients);
    }

    const planStart = reporter.now();
    const transition = planTransition(from, to);
    const describe = goal.kind === 'generation' ? `generation ${goal.generation}` : 'the new manifest';
    reporter.step(
      undefined,
      `plan from generation ${currentGeneration} to ${describe} (${reporter.since(planStart)} ms):`,
    );
    for (const line of describeTransition(transition)) reporter.step(undefined, `  ${line}`);
    if (options.dryRun) {
      reporter.step(undefined, 'dry run: nothing changed');
      return { generation: currentGeneration, transition, changed: false };
    }

    if (isEmptyTransition(transition)) {
      const generation = await finish(goal, to, currentManifest, currentGeneration, store);
      await store.clearPending();
      reporter.step(undefined, `nothing to activate or deactivate; generation ${generation} is current`);
      return { generation, transition, changed: false };
    }

    const involved = new Map(transition.targets.map((plan) => [plan.target, plan.agent]));
    const owner = options.lock === false ? undefined : (takeOver ?? lockOwner());
    if (owner !== undefined && owner === takeOver) {
      reporter.step(undefined, `taking over the locks of the unfinished deployment (${owner})`);
    }
    let locks: HeldLocks | undefined;
    if (owner !== undefined) {
      locks = await lockTargets(
        [...involved].map(([target, agent]) => clients.get(target, agent)),
        owner,
        reporter,
        options.lockTtlMs,
      );
    }
    try {
      await store.setPending({
        from: currentGeneration,
        targets: Object.fromEntries(involved),
        startedAt: new Date().toISOString(),
        owner: owner ?? lockOwner(),
        hostname: hostname(),
        pid: process.pid,
      });
      const failure = await execute(transition, clients, owner, reporter, options.readyTimeoutMs);
      if (!failure) {
        const generation = await finish(goal, to, currentManifest, currentGeneration, store);
        await store.clearPending();
        reporter.step(undefined, `generation ${generation} is current`);
        return { generation, transition, changed: true };
      }
      const what = describeFailure(failure);
      reporter.step(
        undefined,
        `rolling back ${[...involved.keys()].join(', ')} to generation ${currentGeneration}`,
      );
      let rollbackFailure: string | undefined;
      try {
        // Every target that answers is rolled back, also when another one cannot be reached (a cut connection).
        const { running, unreachable } = await queryReachable(involved, clients);
        const reachable = [...involved.keys()].filter((target) => !unreachable.has(target));
        const back = planTransition(running, restrictManifest(currentManifest, reachable));
        const failed = await execute(back, clients, owner, reporter, options.readyTimeoutMs);
        if (failed) rollbackFailure = describeFailure(failed);
        else if (unreachable.size > 0) {
          const [[target, error]] = [...unreachable] as [[string, Error]];
          const done = reachable.length > 0 ? `${reachable.join(', ')} rolled back; ` : '';
          rollbackFailure = `${done}target ${[...unreachable.keys()].join(', ')} not: ${error.message.replace(`target ${target}: `, '')}`;
          reporter.step(
            undefined,
            `rolled back ${reachable.join(', ') || 'nothing'}; ${target} cannot be reached`,
          );
        }
      } catch (error) {
        rollbackFailure = `rollback failed: ${(error as Error).message}`;
      }
      if (rollbackFailure === undefined) {
        await store.clearPending();
        reporter.step(undefined, `rolled back: generation ${currentGeneration} is current`);
        throw new DeployError(`deploy: ${what}; rolled back to generation ${currentGeneration}`, {
          step: failure.job.kind,
          target: failure.job.target,
          service: failure.job.service,
          rolledBack: true,
          cause: failure.error,
        });
      }
      throw new DeployError(
        `deploy: ${what}; the rollback failed too (${rollbackFailure.replace(/^(activate|deactivate) failed/, '$1')}). ` +
          `Resume with: ${options.resumeCommand(currentGeneration)}`,
        {
          step: failure.job.kind,
          target: failure.job.target,
          service: failure.job.service,
          rolledBack: false,
          cause: failure.error,
        },
      );
    } finally {
      await locks?.release();
    }
  } finally {
    await clients.close();
  }
}

/** Makes the goal current: a new manifest becomes generation max+1 (unless it is the current one), a switch moves `current`. */
async function finish(
  goal: Goal,
  to: Manifest,
  currentManifest: Manifest,
  currentGeneration: number,
  store: GenerationStore,
): Promise<number> {
  if (goal.kind === 'generation') {
    await store.setCurrent(goal.generation);
    return goal.generation;
  }
  if (currentGeneration > 0 && canonicalJson(to) === canonicalJson(currentManifest)) return currentGeneration;
  return store.record(to, goal.description);
}
