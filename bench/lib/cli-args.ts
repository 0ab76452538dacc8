/** `npm run bench -- [options]`: the harness's command line, parsed strictly so a typo is an error, not a default. */
import { parseArgs } from 'node:util';
import type { RunSettings } from './result-types.js';

export const HELP = `Usage: npm run bench -- [options]

Runs the benchmark scenarios of bench/scenarios (see bench/README.md) and writes bench/results/.

Options:
  --quick             every scenario once, about 1.5 s of load each; only checks that each ran without errors
                      (the CI mode: no timing is judged). Results go to bench/results/quick/ (not committed).
  --scenario NAME     run only this scenario (repeatable)
  --list              list the scenarios and exit
  --rounds N          rounds per scenario (full mode default 5, quick 1)
  --duration SECONDS  load per setup per round (full default 10, quick 1.5)
  --warmup SECONDS    unmeasured load per setup before round 1 (full default 3, quick 0)
  -h, --help          show this help

Exit code: 0 when every scenario ran without errors, 1 when one errored (a server failed to start or died,
a request failed, a non-2xx answer), 2 on a bad option. PASS/MISS against the issue targets is printed in full
mode as information and never changes the exit code.
Needs: a build (npm run build), Debian's nginx for the nginx baseline and wrk for proxy-mixed
(apt-get install nginx wrk).`;

export interface CliOptions {
  help: boolean;
  list: boolean;
  scenarios: string[];
  settings: RunSettings;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

function positiveNumber(
  name: string,
  value: string | undefined,
  fallback: number,
  allowZero = false,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0))
    throw new UsageError(
      `--${name}: expected a ${allowZero ? 'non-negative' : 'positive'} number, got "${value}"`,
    );
  return n;
}

export function parseCli(argv: readonly string[]): CliOptions {
  let values: ReturnType<typeof parse>['values'];
  try {
    ({ values } = parse(argv));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const quick = values.quick ?? false;
  const rounds = positiveNumber('rounds', values.rounds, quick ? 1 : 5);
  if (!Number.isInteger(rounds))
    throw new UsageError(`--rounds: expected a whole number, got "${values.rounds}"`);
  return {
    help: values.help ?? false,
    list: values.list ?? false,
    scenarios: values.scenario ?? [],
    settings: {
      mode: quick ? 'quick' : 'full',
      rounds,
      durationSeconds: positiveNumber('duration', values.duration, quick ? 1.5 : 10),
      warmupSeconds: positiveNumber('warmup', values.warmup, quick ? 0 : 3, true),
    },
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: 'boolean' },
      scenario: { type: 'string', multiple: true },
      list: { type: 'boolean' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
