import type { Move, Unplaced } from './replan.js';

/**
 * Everything `nodix self-adapt` tells: one event per line, as text or (with --json) as one JSON object per line.
 * Decisions (`adapted`, `adapt-failed`) name what triggered them, what moved where and the generation.
 */
export interface Trigger {
  /** Targets that were in the placement and stopped answering. */
  lost: string[];
  /** Targets that answer again (or for the first time). */
  returned: string[];
  /** True when nothing was deployed yet: the first placement. */
  initial: boolean;
}

export type AdaptEvent =
  | {
      event: 'start';
      targets: string[];
      generation: number;
      intervalMs: number;
      probeTimeoutMs: number;
      downAfter: number;
      upAfter: number;
      rebalance: boolean;
    }
  | {
      event: 'probe';
      target: string;
      ok: boolean;
      /** Results in a row that contradict the target's state, and how many it takes to change it. */
      streak: number;
      threshold: number;
      health: string;
      error?: string;
    }
  /** Every target's state is known for the first time (no decision is taken before). */
  | { event: 'decided'; live: string[]; gone: string[] }
  | { event: 'target-down'; target: string; failedProbes: number }
  | { event: 'target-up'; target: string; goodProbes: number }
  | {
      event: 'adapted';
      trigger: Trigger;
      moved: Move[];
      unplaced: Unplaced[];
      /** Services taken off targets that came back (they still ran there while the target was cut off). */
      cleaned: Record<string, string[]>;
      generation: number;
      /** False when the plan needed no change on any target (or with --dry-run). */
      changed: boolean;
      dryRun: boolean;
      rebalanced: boolean;
    }
  | {
      event: 'adapt-failed';
      trigger: Trigger;
      /** The generation still current (still serving). */
      generation: number;
      error: { code: string; message: string };
    }
  | { event: 'stop'; reason: string };

function describeTrigger({ lost, returned, initial }: Trigger): string {
  if (initial) return `first placement on ${returned.join(', ') || 'no target'}`;
  return [lost.length ? `${lost.join(', ')} lost` : '', returned.length ? `${returned.join(', ')} back` : '']
    .filter(Boolean)
    .join(', ');
}

const where = (targets: string[]) => (targets.length ? targets.join('+') : 'nowhere');

/** The text form of an event: one line, `[self-adapt] ...`. */
export function formatEvent(event: AdaptEvent): string {
  const line = (() => {
    switch (event.event) {
      case 'start':
        return (
          `watching ${event.targets.join(', ')} (generation ${event.generation} current): probe every ` +
          `${event.intervalMs} ms (timeout ${event.probeTimeoutMs} ms), gone after ${event.downAfter} failed ` +
          `probe(s), back after ${event.upAfter} good one(s)${event.rebalance ? ', --rebalance' : ''}`
        );
      case 'probe':
        if (event.streak === 0) {
          return event.ok
            ? `probe ${event.target}: answers again, it never counted as gone`
            : `probe ${event.target}: fails again, it still counts as gone`;
        }
        return event.ok
          ? `probe ${event.target}: answers (${event.streak} of ${event.threshold} before it counts as back)`
          : `probe ${event.target}: failed (${event.streak} of ${event.threshold} before it counts as gone): ${event.error}`;
      case 'decided':
        return `every target probed: live ${event.live.join(', ') || '-'}; gone ${event.gone.join(', ') || '-'}`;
      case 'target-down':
        return `${event.target} is gone (${event.failedProbes} failed probe(s) in a row)`;
      case 'target-up':
        return `${event.target} is up (${event.goodProbes} good probe(s) in a row)`;
      case 'adapted': {
        const parts = [
          event.moved.length
            ? `moved ${event.moved.map((m) => `${m.service} ${where(m.from)} -> ${where(m.to)}`).join(', ')}`
            : event.trigger.returned.length && !event.rebalanced && !event.trigger.initial
              ? 'nothing moves back (no --rebalance)'
              : 'nothing moved',
          ...event.unplaced.map((u) => `NOWHERE TO GO: ${u.reason}`),
          ...Object.entries(event.cleaned).map(
            ([target, services]) => `removed from ${target} what moved away: ${services.join(', ')}`,
          ),
          event.dryRun
            ? `dry run: generation ${event.generation} stays current`
            : event.changed
              ? `generation ${event.generation}`
              : `no change to deploy, generation ${event.generation} stays current`,
        ];
        return `${describeTrigger(event.trigger)}: ${parts.join('; ')}`;
      }
      case 'adapt-failed':
        return (
          `${describeTrigger(event.trigger)}: adaptation FAILED, generation ${event.generation} keeps serving, ` +
          `retried next round: ${event.error.message}`
        );
      case 'stop':
        return `stopped: ${event.reason}`;
    }
  })();
  return `[self-adapt] ${line}`;
}
