import type { Job } from './transition.js';

export interface JobFailure {
  job: Job;
  error: Error;
}

export interface JobsResult {
  done: Job[];
  /** The first failure; later jobs were not started, running ones were waited for. */
  failure?: JobFailure;
}

/**
 * Runs jobs as their `after` jobs finish: every target in parallel, at most `perTarget` jobs at a time on one target.
 * After the first failure nothing new starts; jobs already running are awaited so the caller knows what happened.
 */
export async function runJobs(
  jobs: Job[],
  perform: (job: Job) => Promise<void>,
  perTarget = 16,
): Promise<JobsResult> {
  const waiting = new Map(jobs.map((job) => [job.key, job]));
  const finished = new Set<string>();
  const running = new Map<string, Promise<void>>();
  const busy = new Map<string, number>();
  const done: Job[] = [];
  let failure: JobFailure | undefined;

  const start = (job: Job) => {
    waiting.delete(job.key);
    busy.set(job.target, (busy.get(job.target) ?? 0) + 1);
    const promise = perform(job).then(
      () => {
        finished.add(job.key);
        done.push(job);
      },
      (error: unknown) => {
        failure ??= { job, error: error instanceof Error ? error : new Error(String(error)) };
      },
    );
    running.set(
      job.key,
      promise.finally(() => {
        running.delete(job.key);
        busy.set(job.target, (busy.get(job.target) ?? 1) - 1);
      }),
    );
  };

  for (;;) {
    if (!failure) {
      for (const job of [...waiting.values()]) {
        if ((busy.get(job.target) ?? 0) >= perTarget) continue;
        if (job.after.every((key) => finished.has(key) || !waitingOrRunning(key))) start(job);
      }
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }
  if (!failure && waiting.size > 0) {
    // Only a dependency cycle leaves jobs waiting with nothing running; models are checked for cycles, so a bug.
    throw new Error(`jobs left waiting on each other: ${[...waiting.keys()].join(', ')}`);
  }
  return failure ? { done, failure } : { done };

  function waitingOrRunning(key: string): boolean {
    return waiting.has(key) || running.has(key);
  }
}
