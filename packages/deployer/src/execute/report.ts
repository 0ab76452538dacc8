import { performance } from 'node:perf_hooks';
import type { OutputStream } from '../commands/command.js';

/**
 * Step lines of a deployment: where they come from (`[coordinator]`, `[target: test1]`) and when, as seconds since
 * the deployment started, so that the interleaved lines of parallel targets can be read and timed.
 */
export interface Reporter {
  step(target: string | undefined, message: string): void;
  /** Milliseconds since `start`, for "took N ms" figures. */
  since(start: number): number;
  now(): number;
}

export function createReporter(out: OutputStream): Reporter {
  const origin = performance.now();
  return {
    step(target, message) {
      const elapsed = ((performance.now() - origin) / 1000).toFixed(3);
      out.write(`[${target === undefined ? 'coordinator' : `target: ${target}`}] +${elapsed}s ${message}\n`);
    },
    since(start) {
      return Math.round(performance.now() - start);
    },
    now() {
      return performance.now();
    },
  };
}

/** A reporter that prints nothing (library callers that only want the result). */
export const silentReporter: Reporter = {
  step() {},
  since(start) {
    return Math.round(performance.now() - start);
  },
  now() {
    return performance.now();
  },
};
