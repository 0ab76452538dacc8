/** The facts printed with every result, so a figure can be traced to the machine and versions it came from. */
import { spawnSync } from 'node:child_process';
import { cpus, hostname } from 'node:os';
import { findWrk } from './load.js';
import { findNginx } from './nginx.js';
import type { Pinning } from './pinning.js';
import type { MachineInfo } from './result-types.js';

function nginxVersion(): string | undefined {
  const nginx = findNginx();
  if (!nginx) return undefined;
  // nginx prints its version on stderr.
  const out = spawnSync(nginx, ['-v'], { encoding: 'utf8' });
  return (out.stderr || out.stdout).trim().replace(/^nginx version: /, '') || 'nginx (version unknown)';
}

/** `wrk debian/4.1.0-3+b2 [epoll]`: the first line of `wrk -v` without its copyright. */
function wrkVersion(): string | undefined {
  const wrk = findWrk();
  if (!wrk) return undefined;
  const out = spawnSync(wrk, ['-v'], { encoding: 'utf8' });
  return (
    `${out.stdout ?? ''}${out.stderr ?? ''}`
      .split('\n')[0]
      ?.replace(/\s*Copyright.*$/, '')
      .trim() || undefined
  );
}

export function describeMachine(pinning: Pinning): MachineInfo {
  const list = cpus();
  return {
    date: new Date().toISOString(),
    hostname: hostname(),
    cpuModel: list[0]?.model.trim() ?? 'unknown CPU',
    cpus: list.length,
    node: process.version,
    nginx: nginxVersion(),
    wrk: wrkVersion(),
    pinning: pinning.description,
  };
}
