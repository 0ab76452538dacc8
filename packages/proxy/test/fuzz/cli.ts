/**
 * `npm run fuzz -- --seconds N --seed S [--replay I] [--concurrency C]`: the seeded fuzzer
 * (fuzz.ts) for as long as asked. Prints progress and a one-line summary; on a failure exits 1 with the seed and
 * the failing scenario's bytes, and the command that replays just that scenario.
 */
import { runFuzz } from './fuzz.js';

const USAGE =
  'usage: npm run fuzz -- [--seconds N] [--seed S] [--replay I] [--concurrency C]\n' +
  '  --seconds N         run for N seconds (default 30)\n' +
  '  --seed S            seed, an integer (default: random, printed)\n' +
  '  --replay I          run only scenario I of the seed (from a failure report)\n' +
  '  --concurrency C     scenarios in flight at once (default 6)';

function parse(argv: string[]) {
  const out = {
    seconds: 30,
    seed: Math.floor(Math.random() * 2 ** 31),
    replay: undefined as number | undefined,
    concurrency: 6,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined || !/^\d+$/.test(v))
        usage(`${arg} needs a non-negative integer (value was ${JSON.stringify(v ?? '')})`);
      return Number(v);
    };
    if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (arg === '--seconds') out.seconds = value();
    else if (arg === '--seed') out.seed = value();
    else if (arg === '--replay') out.replay = value();
    else if (arg === '--concurrency') out.concurrency = Math.max(1, value());
    else usage(`unknown argument ${JSON.stringify(arg)}`);
  }
  return out;
}

function usage(message: string): never {
  console.error(`fuzz: ${message}\n${USAGE}`);
  process.exit(2);
}

const args = parse(process.argv.slice(2));
const teardowns: (() => unknown)[] = [];
console.log(
  `fuzz: seed ${args.seed}, ${args.replay === undefined ? `${args.seconds} s` : `scenario ${args.replay} only`}`,
);
const result = await runFuzz(
  { teardown: (fn) => teardowns.push(fn) },
  {
    seed: args.seed,
    durationMs: args.seconds * 1000,
    concurrency: args.concurrency,
    progress: (line) => console.log(line),
    ...(args.replay === undefined ? {} : { replay: args.replay }),
  },
);
for (const fn of teardowns.reverse()) await fn();
if (result.failures.length === 0) {
  console.log(
    `fuzz: ok — seed ${result.seed}, ${result.scenarios} scenarios, ${result.requests} requests, no failure`,
  );
  process.exit(0);
}
for (const f of result.failures.slice(0, 5)) {
  console.log(`\nFAIL scenario ${f.scenario}: ${f.what}\n${f.detail}`);
  if (f.scenario >= 0) {
    console.log(`reproducer (the client's writes, in order): ${JSON.stringify(f.reproducer.chunks)}`);
    console.log(`replay: npm run fuzz -- --seed ${result.seed} --replay ${f.scenario}`);
  }
}
console.log(
  `fuzz: FAILED — seed ${result.seed}, ${result.failures.length} failure(s) in ${result.scenarios} scenarios`,
);
process.exit(1);
