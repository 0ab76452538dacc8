import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../agent/atomic-file.js';
import { NodixError } from '../errors.js';
import { applyGoal } from '../execute/deploy.js';
import { GenerationStore } from '../execute/generations.js';
import type { Reporter } from '../execute/report.js';
import type { SshSettings } from '../execute/ssh.js';
import { AgentClients } from '../execute/targets.js';
import type { PortsFile } from '../plan/ports.js';
import { type CapturedFacts, captureInfrastructure } from './capture.js';
import type { AdaptEvent, Trigger } from './events.js';
import { isNoChange, LivenessTracker, liveSetChange, type Thresholds } from './liveness.js';
import { type AdaptModels, placementOf, replan } from './replan.js';

export interface SelfAdaptOptions extends Thresholds {
  models: AdaptModels;
  /** The previous port assignments (`-p`); kept in memory and handed on from one adaptation to the next. */
  ports: PortsFile | undefined;
  stateDir: string;
  token: string | undefined;
  /** How to run ssh for targets reached over SSH. */
  ssh?: SshSettings;
  intervalMs: number;
  probeTimeoutMs: number;
  /** Stop after the first round in which every target is decided (and the adaptation it needed, if any). */
  once: boolean;
  dryRun: boolean;
  /** When a target returns, place everything from scratch, so that it gets its share again. */
  rebalance: boolean;
  readyTimeoutMs?: number;
  resumeCommand: (generation: number) => string;
  emit: (event: AdaptEvent) => void;
  /** Where the deploy's step lines go. */
  reporter: Reporter;
  /** Aborting stops the loop between rounds; a round that is deploying finishes first. */
  signal: AbortSignal;
}

/** The live set the current generation was placed for, kept next to the generations so a restart knows it. */
const BASELINE_FILE = 'self-adapt.json';

interface Baseline {
  generation: number;
  live: string[];
}

async function readBaseline(stateDir: string, generation: number): Promise<Set<string> | undefined> {
  try {
    const saved = JSON.parse(await readFile(join(stateDir, BASELINE_FILE), 'utf8')) as Baseline;
    return saved.generation === generation && Array.isArray(saved.live) ? new Set(saved.live) : undefined;
  } catch {
    return undefined;
  }
}

async function writeBaseline(stateDir: string, baseline: Baseline): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  await writeFileAtomic(join(stateDir, BASELINE_FILE), `${JSON.stringify(baseline)}\n`);
}

/**
 * `nodix self-adapt` (dydisnix-self-adapt): probes every target each interval; when the set of live targets changes
 * (with hysteresis), re-places the services with the qos model and deploys the difference through `applyGoal`, the
 * transactional deploy of `nodix deploy`. A failed adaptation leaves the current generation serving and is retried
 * the next round. Returns whether the last adaptation failed.
 */
export async function selfAdapt(options: SelfAdaptOptions): Promise<{ failed: boolean }> {
  const { models, emit, signal } = options;
  const store = new GenerationStore(options.stateDir);
  const declared = Object.keys(models.infrastructure);
  const tracker = new LivenessTracker(declared, options);
  const captured = new Map<string, CapturedFacts>();
  const startGeneration = await store.current();
  const startManifest = await store.currentManifest();
  let baseline =
    (await readBaseline(options.stateDir, startGeneration)) ??
    new Set(Object.keys(startManifest.targets).filter((target) => declared.includes(target)));
  let ports = options.ports;
  let failed = false;
  let decided = false;
  emit({
    event: 'start',
    targets: declared,
    generation: startGeneration,
    intervalMs: options.intervalMs,
    probeTimeoutMs: options.probeTimeoutMs,
    downAfter: options.downAfter,
    upAfter: options.upAfter,
    rebalance: options.rebalance,
  });

  const clients = new AgentClients(options.token, options.ssh);
  try {
    while (!signal.aborted) {
      await probeAll();
      if (tracker.decided()) {
        if (!decided) {
          decided = true;
          const live = tracker.live();
          emit({ event: 'decided', live: [...live], gone: declared.filter((target) => !live.has(target)) });
        }
        const generation = await store.current();
        const live = tracker.live();
        const change = liveSetChange(baseline, live);
        if (!isNoChange(change) || generation === 0) {
          const trigger: Trigger = { ...change, initial: generation === 0 };
          failed = !(await adapt(trigger, live));
        }
        if (options.once) break;
      }
      await sleep(options.intervalMs, undefined, { signal }).catch(() => undefined);
    }
  } finally {
    await clients.close();
  }
  emit({ event: 'stop', reason: signal.aborted ? 'signal' : 'done (--once)' });
  return { failed };

  async function probeAll(): Promise<void> {
    const answers = await captureInfrastructure(models.infrastructure, clients, options.probeTimeoutMs);
    const results: Array<[string, boolean, string | undefined]> = [
      ...Object.entries(answers.reachable).map(([t, r]): [string, boolean, undefined] => {
        captured.set(t, r.properties.captured);
        return [t, true, undefined];
      }),
      ...Object.entries(answers.unreachable).map(([t, u]): [string, boolean, string] => [
        t,
        false,
        u.error.message,
      ]),
    ];
    for (const [target, ok, error] of results) {
      const { before, after } = tracker.observe(target, ok);
      if (after.health === 'down' && before.health !== 'down') {
        emit({ event: 'target-down', target, failedProbes: options.downAfter });
      } else if (after.health === 'up' && before.health === 'down') {
        emit({ event: 'target-up', target, goodProbes: options.upAfter });
      } else if (after.streak > 0 || before.streak > 0) {
        // A contradicting result, or the first normal one after some (a flap that moved nothing).
        emit({
          event: 'probe',
          target,
          ok,
          streak: after.streak,
          threshold: ok ? options.upAfter : options.downAfter,
          health: after.health,
          ...(error === undefined ? {} : { error }),
        });
      }
    }
  }

  /** One adaptation to the live set `live`; true when it succeeded (or needed nothing). */
  async function adapt(trigger: Trigger, live: Set<string>): Promise<boolean> {
    try {
      const current = await store.currentManifest();
      const stillServing = new Set([...baseline].filter((target) => live.has(target)));
      const rebalanced = options.rebalance && trigger.returned.length > 0 && !trigger.initial;
      const plan = await replan({
        models,
        live,
        captured,
        previous: placementOf(current, stillServing),
        fresh: rebalanced,
        ports,
        current,
        before: placementOf(current, baseline),
      });
      const result = await applyGoal(
        {
          kind: 'manifest',
          manifest: plan.manifest,
          description: `nodix self-adapt: ${[
            trigger.lost.length ? `lost ${trigger.lost.join(', ')}` : '',
            trigger.returned.length
              ? `${trigger.initial ? 'placed on' : 'back'} ${trigger.returned.join(', ')}`
              : '',
          ]
            .filter(Boolean)
            .join('; ')}`,
        },
        {
          stateDir: options.stateDir,
          token: options.token,
          ...(options.ssh ? { ssh: options.ssh } : {}),
          reporter: options.reporter,
          dryRun: options.dryRun,
          readyTimeoutMs: options.readyTimeoutMs,
          resumeCommand: options.resumeCommand,
        },
      );
      for (const warning of plan.warnings) options.reporter.step(undefined, `warning: ${warning}`);
      const cleaned: Record<string, string[]> = {};
      for (const target of result.transition.targets) {
        if (trigger.returned.includes(target.target) && target.removed.length)
          cleaned[target.target] = target.removed;
      }
      emit({
        event: 'adapted',
        trigger,
        moved: plan.moves,
        unplaced: plan.unplaced,
        cleaned: options.dryRun ? {} : cleaned,
        generation: result.generation,
        changed: result.changed,
        dryRun: options.dryRun,
        rebalanced,
      });
      baseline = live;
      if (!options.dryRun) {
        ports = plan.ports;
        await writeBaseline(options.stateDir, { generation: result.generation, live: [...live] });
      }
      return true;
    } catch (error) {
      const code = error instanceof NodixError ? error.code : 'NODIX_ERR_INTERNAL';
      const message = error instanceof Error ? error.message : String(error);
      emit({ event: 'adapt-failed', trigger, generation: await store.current(), error: { code, message } });
      return false;
    }
  }
}
