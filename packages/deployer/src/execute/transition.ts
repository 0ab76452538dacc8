import { activationModules } from '../agent/activation/index.js';
import { naturalCompare } from '../plan/natural-sort.js';
import type { AgentAddress, Manifest, ServiceInstance, TargetManifest } from '../plan/types.js';

/**
 * The transition between two manifests, Disnix's way: what to deactivate (obsolete instances, dependents first) and
 * what to activate (new instances, dependencies first), computed by comparing identity hashes. Pure: manifests in,
 * plan out. A target whose services all keep their hashes is untouched: no lock, no call.
 */
export interface TargetPlan {
  target: string;
  agent: AgentAddress;
  added: string[];
  removed: string[];
  /** Changed instances that are stopped and started again. */
  replaced: string[];
  /** Changed instances their activation module takes without a restart (a proxy's new route table). */
  updated: string[];
  unchanged: string[];
}

export interface Job {
  /** `target/service` */
  key: string;
  target: string;
  service: string;
  kind: 'activate' | 'deactivate';
  /** For activations: the instance to run. */
  instance?: ServiceInstance;
  /** Keys of jobs of the same phase that must finish first. */
  after: string[];
}

export interface Transition {
  /** Targets with something to do, in natural order. */
  targets: TargetPlan[];
  /** Targets of either manifest with nothing to do. */
  untouched: string[];
  deactivate: Job[];
  activate: Job[];
}

export const EMPTY_MANIFEST: Manifest = { version: 1, targets: {} };

const jobKey = (target: string, service: string) => `${target}/${service}`;

function sorted(names: Iterable<string>): string[] {
  return [...names].sort(naturalCompare);
}

/** True when the running `current` can become `next` in place (decided by the activation module, as the agent will). */
export function updatesInPlace(current: ServiceInstance, next: ServiceInstance): boolean {
  if (current.type !== next.type) return false;
  return activationModules.get(next.type)?.canUpdate?.(current, next) ?? false;
}

function targetServices(manifest: Manifest, target: string): Record<string, ServiceInstance> {
  return manifest.targets[target]?.services ?? {};
}

/** Where each service of a manifest runs: service name → targets. */
function placements(manifest: Manifest): Map<string, string[]> {
  const where = new Map<string, string[]>();
  for (const [target, { services }] of Object.entries(manifest.targets)) {
    for (const name of Object.keys(services)) {
      const list = where.get(name) ?? [];
      list.push(target);
      where.set(name, list);
    }
  }
  return where;
}

/**
 * Orders `jobs` (instances of `manifest`): for `dependenciesFirst`, a job waits for the jobs of the services its
 * instance depends on; otherwise (deactivation) a dependency's job waits for its dependents' jobs.
 */
function linkJobs(jobs: Job[], manifest: Manifest, dependenciesFirst: boolean): void {
  const byKey = new Map(jobs.map((job) => [job.key, job]));
  const where = placements(manifest);
  for (const job of jobs) {
    const instance = targetServices(manifest, job.target)[job.service];
    for (const ref of instance?.dependsOn ?? []) {
      const targets =
        ref.addresses.length > 0 ? ref.addresses.map((a) => a.target) : (where.get(ref.service) ?? []);
      for (const target of targets) {
        const other = byKey.get(jobKey(target, ref.service));
        if (!other) continue;
        if (dependenciesFirst) job.after.push(other.key);
        else other.after.push(job.key);
      }
    }
  }
}

export function planTransition(from: Manifest, to: Manifest): Transition {
  const targets: TargetPlan[] = [];
  const untouched: string[] = [];
  const deactivate: Job[] = [];
  const activate: Job[] = [];
  for (const target of sorted(new Set([...Object.keys(from.targets), ...Object.keys(to.targets)]))) {
    const before = targetServices(from, target);
    const after = targetServices(to, target);
    const plan: TargetPlan = {
      target,
      agent: (to.targets[target] ?? (from.targets[target] as TargetManifest)).agent,
      added: [],
      removed: [],
      replaced: [],
      updated: [],
      unchanged: [],
    };
    for (const name of sorted(new Set([...Object.keys(before), ...Object.keys(after)]))) {
      const old = before[name];
      const next = after[name];
      if (old && !next) plan.removed.push(name);
      else if (!old && next) plan.added.push(name);
      else if (old && next && old.hash === next.hash) plan.unchanged.push(name);
      else if (old && next && updatesInPlace(old, next)) plan.updated.push(name);
      else plan.replaced.push(name);
    }
    for (const name of [...plan.removed, ...plan.replaced]) {
      deactivate.push({ key: jobKey(target, name), target, service: name, kind: 'deactivate', after: [] });
    }
    for (const name of [...plan.added, ...plan.replaced, ...plan.updated]) {
      activate.push({
        key: jobKey(target, name),
        target,
        service: name,
        kind: 'activate',
        instance: after[name],
        after: [],
      });
    }
    const changes = plan.added.length + plan.removed.length + plan.replaced.length + plan.updated.length;
    if (changes > 0) targets.push(plan);
    else untouched.push(target);
  }
  linkJobs(deactivate, from, false);
  linkJobs(activate, to, true);
  return { targets, untouched, deactivate, activate };
}

export function isEmptyTransition(transition: Transition): boolean {
  return transition.targets.length === 0;
}

/** The plan as the user reads it: per target, what is added, removed, changed, and which targets are untouched. */
export function describeTransition(transition: Transition): string[] {
  const lines: string[] = [];
  for (const plan of transition.targets) {
    const parts = [
      plan.added.length ? `add ${plan.added.join(', ')}` : '',
      plan.removed.length ? `remove ${plan.removed.join(', ')}` : '',
      plan.replaced.length ? `restart changed ${plan.replaced.join(', ')}` : '',
      plan.updated.length ? `reload ${plan.updated.join(', ')}` : '',
      plan.unchanged.length ? `keep ${plan.unchanged.length}` : '',
    ].filter(Boolean);
    lines.push(`${plan.target}: ${parts.join('; ')}`);
  }
  if (transition.untouched.length) lines.push(`untouched: ${transition.untouched.join(', ')}`);
  return lines;
}

/**
 * A manifest of what agents report running, for the targets they cover: the `from` of a rollback or of a resumed
 * deployment, when the last recorded generation may not be what runs.
 */
export function manifestFromRunning(
  running: Array<{ target: string; agent: AgentAddress; services: ServiceInstance[] }>,
): Manifest {
  const manifest: Manifest = { version: 1, targets: {} };
  for (const { target, agent, services } of running) {
    manifest.targets[target] = {
      name: target,
      properties: {},
      agent,
      services: Object.fromEntries(services.map((instance) => [instance.name, instance])),
    };
  }
  return manifest;
}

/** `manifest` restricted to `targets` (the rollback touches only what the failed deployment touched). */
export function restrictManifest(manifest: Manifest, targets: Iterable<string>): Manifest {
  const keep = new Set(targets);
  return {
    version: 1,
    targets: Object.fromEntries(Object.entries(manifest.targets).filter(([name]) => keep.has(name))),
  };
}
