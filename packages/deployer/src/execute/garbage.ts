import type { GarbageReport } from '../agent/supervisor.js';
import type { Manifest } from '../plan/types.js';
import type { Reporter } from './report.js';
import type { SshSettings } from './ssh.js';
import { AgentClients, agentAddressesOfManifests } from './targets.js';

/**
 * The targets' half of `nodix collect-garbage`, as disnix-collect-garbage runs on every target: each agent deletes
 * the directories and logs of services it does not run and no kept generation places on it. What a target runs is
 * never touched (the agent checks that itself), so this is safe while services run, and a target that is locked by a
 * deploy in progress refuses.
 */
export interface TargetGarbage {
  target: string;
  removed?: GarbageReport;
  /** Why the target could not be cleaned. */
  error?: string;
}

export interface CollectTargetGarbageOptions {
  /** Manifests of every generation still on record, newest first: where each target's agent is. */
  known: Manifest[];
  /** Manifests of the generations that stay (current included): their services stay on their targets. */
  kept: Manifest[];
  token: string | undefined;
  ssh?: SshSettings;
  reporter: Reporter;
  dryRun: boolean;
}

/** Service names each target keeps: those the kept manifests place on it. */
export function keptServicesByTarget(kept: Manifest[]): Map<string, Set<string>> {
  const byTarget = new Map<string, Set<string>>();
  for (const manifest of kept) {
    for (const [target, { services }] of Object.entries(manifest.targets)) {
      const names = byTarget.get(target) ?? new Set<string>();
      for (const name of Object.keys(services)) names.add(name);
      byTarget.set(target, names);
    }
  }
  return byTarget;
}

function describe(removed: GarbageReport, dryRun: boolean): string {
  const names = [...new Set([...removed.services, ...removed.logs])];
  if (names.length === 0) return 'nothing to remove';
  const what = `${removed.services.length} service director${removed.services.length === 1 ? 'y' : 'ies'} and ${removed.logs.length} log(s) of ${names.length} unused service(s): ${names.join(', ')}`;
  return dryRun ? `would remove ${what}` : `removed ${what}`;
}

/** Cleans every known target in parallel, one progress line each; failures are reported, not thrown. */
export async function collectTargetGarbage(options: CollectTargetGarbageOptions): Promise<TargetGarbage[]> {
  const addresses = agentAddressesOfManifests(...options.known);
  const keep = keptServicesByTarget(options.kept);
  const clients = new AgentClients(options.token, options.ssh);
  try {
    return await Promise.all(
      [...addresses].map(async ([target, address]): Promise<TargetGarbage> => {
        const start = options.reporter.now();
        try {
          const { removed } = await clients
            .get(target, address)
            .collectGarbage([...(keep.get(target) ?? [])].sort(), options.dryRun);
          options.reporter.step(
            target,
            `${describe(removed, options.dryRun)} (${options.reporter.since(start)} ms)`,
          );
          return { target, removed };
        } catch (error) {
          const message = (error as Error).message;
          options.reporter.step(target, `not cleaned: ${message}`);
          return { target, error: message };
        }
      }),
    );
  } finally {
    await clients.close();
  }
}
