/** Running the built `nodix-proxy` bin as a child process (run `tsc -b packages/proxy` first). */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { sleep } from './helpers.js';

const BIN = fileURLToPath(new URL('../bin/nodix-proxy.js', import.meta.url));

export interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

export function run(t: Test, args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Run {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c) => {
    out += c;
  });
  child.stderr!.setEncoding('utf8').on('data', (c) => {
    err += c;
  });
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, stdout: () => out, stderr: () => err, exit };
}

export async function ready(r: Run): Promise<{ port: number; adminPort: number | null }> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const m = /^nodix-proxy listening on 127\.0\.0\.1:(\d+) \(admin (?:127\.0\.0\.1:(\d+)|off)\)\n$/.exec(
      r.stdout(),
    );
    if (m) return { port: Number(m[1]), adminPort: m[2] === undefined ? null : Number(m[2]) };
    if (r.child.exitCode !== null) throw new Error(`exited early (${r.child.exitCode}): ${r.stderr()}`);
    await sleep(20);
  }
  throw new Error(`no ready line; stdout: ${r.stdout()} stderr: ${r.stderr()}`);
}

export function writeAtomically(file: string, value: unknown): void {
  const tmp = `${file}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, JSON.stringify(value));
  renameSync(tmp, file);
}
