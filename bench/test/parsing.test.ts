import t from 'tap';
import { parseCli } from '../lib/cli-args.js';
import { parseCpuList } from '../lib/pinning.js';
import { countServerConnections, parseStat } from '../lib/proc-stats.js';

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

t.test('/proc/net/tcp: sockets on a server port, without its listener and TIME_WAIT', async (t) => {
  // Port 8080 = 0x1F90. Listener (0A), two established (01), one CLOSE_WAIT (08), one TIME_WAIT (06), the client
  // side of a connection to it (remote 1F90, local elsewhere) and another address's socket on the same port.
  const table = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0',
    '   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1',
    '   2: 0100007F:1F90 0100007F:C351 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1',
    '   3: 0100007F:1F90 0100007F:C352 08 00000000:00000000 00:00000000 00000000     0        0 4 1 0 20 4 30 10 -1',
    '   4: 0100007F:1F90 0100007F:C353 06 00000000:00000000 03:00001000 00000000     0        0 0 3 0',
    '   5: 0100007F:C354 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 5 1 0 20 4 30 10 -1',
    '   6: 0200007F:1F90 0100007F:C355 01 00000000:00000000 00:00000000 00000000     0        0 6 1 0 20 4 30 10 -1',
  ].join('\n');
  t.equal(countServerConnections(table, 8080), 3);
  t.equal(countServerConnections(table, 80), 0);
  // Ports below 0x1000 are written with 4 hex digits.
  t.equal(countServerConnections('   0: 0100007F:0050 0100007F:C350 01 0', 80), 1);
});
