import { naturalSort } from '../plan/natural-sort.js';

/**
 * Hysteresis on probe results (pure): a target counts as gone only after `downAfter` failed probes in a row and as
 * back only after `upAfter` good ones, so that one lost packet never moves a service. A target starts `unknown`:
 * one good probe makes it `up` (nothing is running away from it yet), `downAfter` failures make it `down`.
 */
export type Health = 'unknown' | 'up' | 'down';

export interface TargetLiveness {
  health: Health;
  /** Consecutive probe results that contradict `health` (failures while up or unknown, successes while down). */
  streak: number;
}

export interface Thresholds {
  downAfter: number;
  upAfter: number;
}

export const INITIAL_LIVENESS: TargetLiveness = Object.freeze({ health: 'unknown', streak: 0 });

export function observeProbe(
  state: TargetLiveness,
  ok: boolean,
  { downAfter, upAfter }: Thresholds,
): TargetLiveness {
  if (state.health === 'down') {
    if (!ok) return { health: 'down', streak: 0 };
    return state.streak + 1 >= upAfter
      ? { health: 'up', streak: 0 }
      : { health: 'down', streak: state.streak + 1 };
  }
  if (ok) return { health: 'up', streak: 0 };
  return state.streak + 1 >= downAfter
    ? { health: 'down', streak: 0 }
    : { health: state.health, streak: state.streak + 1 };
}

/** Liveness of every target, and the live set once every target is decided. */
export class LivenessTracker {
  readonly #states = new Map<string, TargetLiveness>();
  readonly #thresholds: Thresholds;

  constructor(targets: Iterable<string>, thresholds: Thresholds) {
    for (const target of targets) this.#states.set(target, INITIAL_LIVENESS);
    this.#thresholds = thresholds;
  }

  /** Records one probe; returns the state before and after, for the caller to report. */
  observe(target: string, ok: boolean): { before: TargetLiveness; after: TargetLiveness } {
    const before = this.#states.get(target) ?? INITIAL_LIVENESS;
    const after = observeProbe(before, ok, this.#thresholds);
    this.#states.set(target, after);
    return { before, after };
  }

  get(target: string): TargetLiveness {
    return this.#states.get(target) ?? INITIAL_LIVENESS;
  }

  /** False while some target is still `unknown`: no decision is taken on half a picture. */
  decided(): boolean {
    return [...this.#states.values()].every((state) => state.health !== 'unknown');
  }

  live(): Set<string> {
    return new Set([...this.#states].filter(([, state]) => state.health === 'up').map(([target]) => target));
  }
}

/** What changed between the targets the placement assumes (`baseline`) and the live ones. */
export interface LiveSetChange {
  lost: string[];
  returned: string[];
}

export function liveSetChange(baseline: ReadonlySet<string>, live: ReadonlySet<string>): LiveSetChange {
  return {
    lost: naturalSort([...baseline].filter((target) => !live.has(target))),
    returned: naturalSort([...live].filter((target) => !baseline.has(target))),
  };
}

export function isNoChange(change: LiveSetChange): boolean {
  return change.lost.length === 0 && change.returned.length === 0;
}
