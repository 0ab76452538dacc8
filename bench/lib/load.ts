/**
 * One bounded load (duration × connections) against one URL, with the server tree's CPU time and memory measured
 * around it. The load generator runs in a child process pinned to its own core: autocannon (`load-worker.ts`), or
 * wrk replaying a corpus of request heads (`replay-corpus.lua`). Either prints one `RESULT {json}` line.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findH2load, H2LOAD_MISSING, h2loadArgs, parseH2loadOutput } from './h2load.js';
import type { Pinning } from './pinning.js';
import { sampleMemory, treeCpuMicros } from './proc-stats.js';
import { startProcess } from './processes.js';

export interface LoadOptions {
  /** Always a 127.0.0.1 URL: loads never leave the machine. */
  url: string;
  connections: number;
  durationSeconds: number;
  /** Host headers; with several, each connection cycles through them request by request. */
  hosts: string[];
  method: 'GET' | 'POST';
  /** Request body size (0: none). */
  bodyBytes: number;
  /** When set, a response with another body counts as a mismatch (an error). */
  expectBody?: string;
  /**
   * `autocannon` (default); `wrk`, which replays `corpusFile` instead of `hosts`/`method`/`bodyBytes`; or
   * `h2load` (HTTP/2 over TLS, GET of `hosts[0]`, `streams` per connection; lib/h2load.ts).
   */
  generator?: 'autocannon' | 'wrk' | 'h2load';
  /** h2load only: concurrent streams per connection (`-m`). */
  streams?: number;
  /** wrk only: raw request heads concatenated, each ending in CRLF CRLF (`corpus.ts`), over HTTP or HTTPS. */
  corpusFile?: string;
  /**
   * HTTPS loads (wrk, `url` an https URL): `keep-alive` GETs, or `new-connection`, a TLS connection per request
   * (`Connection: close`, so wrk reconnects after every answer).
   */
  https?: 'keep-alive' | 'new-connection';
}

export interface LoadResult {
  requests: number;
  durationSeconds: number;
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  mismatches: number;
  statusCodes: Record<string, number>;
}

export interface MeasuredLoad extends LoadResult {
  /** Server tree CPU time per completed request, microseconds. */
  cpuMicrosPerRequest: number;
  /** Peak of the server tree's summed RSS during the load (sampled every 100 ms). */
  treeRssPeakBytes: number;
  /** Largest VmHWM of any single process in the server tree (the "per worker" figure). */
  processHwmMaxBytes: number;
}

const workerPath = fileURLToPath(new URL('./load-worker.ts', import.meta.url));
const replayScriptPath = fileURLToPath(new URL('./replay-corpus.lua', import.meta.url));
const summaryScriptPath = fileURLToPath(new URL('./wrk-summary.lua', import.meta.url));

export const WRK_MISSING =
  "wrk is not installed: the corpus scenarios replay their requests with Debian's wrk (`apt-get install wrk`)";

/** wrk's path, or undefined. */
export function findWrk(): string | undefined {
  if (existsSync('/usr/bin/wrk')) return '/usr/bin/wrk';
  const which = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' });
  const path = which.stdout?.trim();
  return which.status === 0 && path ? path : undefined;
}

/**
 * The generator's command line (after the pinning prefix) and the line it prints once it has started loading.
 * wrk takes whole seconds (`-d1.5s` is a usage error), so its duration is rounded (at least 1 s); the result
 * carries the duration wrk measured itself. One thread (`-t1`): the connections share one position in the corpus.
 */
export function generatorCommand(options: LoadOptions): { command: string; args: string[]; ready: RegExp } {
  if (options.generator === 'h2load') {
    const h2load = findH2load();
    if (!h2load) throw new Error(H2LOAD_MISSING);
    return { command: h2load, args: h2loadArgs(options), ready: /^starting benchmark/ };
  }
  if (options.generator !== 'wrk')
    return {
      command: process.execPath,
      args: ['--import', 'tsx', workerPath, JSON.stringify(options)],
      ready: /^load worker ready$/,
    };
  const wrk = findWrk();
  if (!wrk) throw new Error(WRK_MISSING);
  const seconds = Math.max(1, Math.round(options.durationSeconds));
  const common = [
    '-t1',
    `-c${options.connections}`,
    `-d${seconds}s`,
    // autocannon's default; wrk's own (2 s) would count a slow answer as a failure sooner than the other loads.
    '--timeout',
    '10s',
  ];
  // Printed once every thread has run init() (the corpus is read), right before the load starts. wrk writes the
  // duration its own way (`10s`, `1m`, `1.50m`).
  const ready = /^Running \S+ test @ /;
  if (options.https !== undefined) {
    const close = options.https === 'new-connection' ? ['-H', 'Connection: close'] : [];
    // A corpus over HTTPS (proxy-tls): its heads replayed on the TLS connections, as over plain HTTP below.
    const script = options.corpusFile
      ? [replayScriptPath, options.url, '--', options.corpusFile]
      : [summaryScriptPath, options.url];
    return { command: wrk, args: [...common, ...close, '-s', ...script], ready };
  }
  if (!options.corpusFile) throw new Error('a wrk load needs a corpus file');
  return {
    command: wrk,
    args: [...common, '-s', replayScriptPath, options.url, '--', options.corpusFile],
    ready,
  };
}

/** The `RESULT {json}` line of a generator's output, as a LoadResult; an error naming what is missing. */
export function parseResultLine(output: string): LoadResult {
  const line = output.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error('no RESULT line');
  const result = JSON.parse(line.slice('RESULT '.length)) as Partial<LoadResult>;
  const numbers = [
    'requests',
    'durationSeconds',
    'requestsPerSecond',
    'latencyP50Ms',
    'latencyP99Ms',
    'errors',
    'timeouts',
    'non2xx',
    'mismatches',
  ] as const;
  for (const key of numbers) {
    if (typeof result[key] !== 'number' || !Number.isFinite(result[key]))
      throw new Error(`RESULT line without a number for ${key}: ${line}`);
  }
  return { ...(result as LoadResult), statusCodes: result.statusCodes ?? {} };
}

export function assertLoopback(url: string): void {
  const { hostname } = new URL(url);
  if (hostname !== '127.0.0.1') throw new Error(`refusing to load ${url}: benchmarks only load 127.0.0.1`);
}

/**
 * Run one load. `serverPids` are the roots of the trees whose CPU and memory are reported (the server under
 * test only: for a proxy, not its backends). `during` runs alongside the load (the reload scenario's rewrites).
 */
export async function runLoad(
  options: LoadOptions,
  serverPids: readonly number[],
  pinning: Pinning,
  during?: () => () => Promise<void>,
): Promise<MeasuredLoad> {
  assertLoopback(options.url);
  const { command, args, ready } = generatorCommand(options);
  const worker = await startProcess({
    label: `load generator (${options.generator ?? 'autocannon'})`,
    command,
    args,
    prefix: pinning.loadPrefix,
    ready: { line: ready },
    readyTimeoutMs: 30_000,
  });
  // Measured from the worker's ready line: its own start-up (loading tsx and autocannon, or wrk reading the
  // corpus) is no part of the load.
  const cpuBefore = treeCpuMicros(serverPids);
  const memory = sampleMemory(serverPids);
  const stopDuring = during?.();
  try {
    await worker.exited;
  } finally {
    await stopDuring?.();
  }
  const cpuAfter = treeCpuMicros(serverPids);
  const { treeRssPeakBytes, processHwmMaxBytes } = memory.stop();
  await worker.stop();
  let result: LoadResult;
  try {
    if (worker.exit?.code !== 0) throw new Error('non-zero exit');
    result =
      options.generator === 'h2load'
        ? parseH2loadOutput(worker.outputTail())
        : parseResultLine(worker.outputTail());
  } catch (error) {
    throw new Error(
      `load generator failed (exit code ${worker.exit?.code}, ${(error as Error).message}):\n${worker.outputTail()}`,
    );
  }
  return {
    ...result,
    cpuMicrosPerRequest: result.requests > 0 ? (cpuAfter - cpuBefore) / result.requests : Number.NaN,
    treeRssPeakBytes,
    processHwmMaxBytes,
  };
}
