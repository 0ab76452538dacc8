import t from 'tap';
import { parseCli } from '../lib/cli-args.js';
import { parseCpuList } from '../lib/pinning.js';
import { parseStat } from '../lib/proc-stats.js';

t.test('CPU lists in the kernel format', async (t) => {
  t.same(parseCpuList('0-1'), [0, 1]);
  t.same(parseCpuList('0,2-3,7\n'), [0, 2, 3, 7]);
  t.same(parseCpuList('5'), [5]);
  t.same(parseCpuList(''), []);
});

t.test(
  '/proc/<pid>/stat: ppid and all four CPU counters, with a command name holding spaces and parens',
  async (t) => {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
    const line =
      '1234 (node (a) b) S 77 1234 1234 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 11 0 1000 1000000 5000';
    t.same(parseStat(line), { ppid: 77, cpuTicks: 250 + 50 + 7 + 3 });
    t.equal(parseStat('garbage'), undefined);
  },
);

t.test('command line: modes and strictness', async (t) => {
  const quick = parseCli(['--quick']);
  t.same(quick.settings, { mode: 'quick', rounds: 1, durationSeconds: 1.5, warmupSeconds: 0 });
  const full = parseCli(['--scenario', 'webapp', '--scenario', 'proxy-1host']);
  t.same(full.settings, { mode: 'full', rounds: 5, durationSeconds: 10, warmupSeconds: 3 });
  t.same(full.scenarios, ['webapp', 'proxy-1host']);
  t.equal(parseCli(['--rounds', '7', '--duration', '2', '--warmup', '0']).settings.rounds, 7);
  t.throws(() => parseCli(['--rounds', '2.5']), { name: 'UsageError' });
  t.throws(() => parseCli(['--duration', '0']), { name: 'UsageError' });
  t.throws(() => parseCli(['--qiuck']), { name: 'UsageError' });
  t.throws(() => parseCli(['extra']), { name: 'UsageError' });
});
