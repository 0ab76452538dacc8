/** The facts printed with every result, so a figure can be traced to the machine and versions it came from. */
import { spawnSync } from 'node:child_process';
import { cpus, hostname } from 'node:os';
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

export function describeMachine(pinning: Pinning): MachineInfo {
  const list = cpus();
  return {
    date: new Date().toISOString(),
    hostname: hostname(),
    cpuModel: list[0]?.model.trim() ?? 'unknown CPU',
    cpus: list.length,
    node: process.version,
    nginx: nginxVersion(),
    pinning: pinning.description,
  };
}
