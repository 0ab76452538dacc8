/**
 * One bounded load (duration × connections) against one URL, with the server tree's CPU time and memory measured
 * around it. The load generator runs in a child process (`load-worker.ts`) pinned to its own core.
 */
import { fileURLToPath } from 'node:url';
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
  const worker = await startProcess({
    label: 'load generator',
    command: process.execPath,
    args: ['--import', 'tsx', workerPath, JSON.stringify(options)],
    prefix: pinning.loadPrefix,
    ready: { line: /^load worker ready$/ },
    readyTimeoutMs: 30_000,
  });
  // Measured from the worker's ready line: its own start-up (loading tsx and autocannon) is no part of the load.
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
  const resultLine = worker
    .outputTail()
    .split('\n')
    .find((line) => line.startsWith('RESULT '));
  if (!resultLine || worker.exit?.code !== 0) {
    throw new Error(`load generator failed (exit code ${worker.exit?.code}):\n${worker.outputTail()}`);
  }
  const result = JSON.parse(resultLine.slice('RESULT '.length)) as LoadResult;
  return {
    ...result,
    cpuMicrosPerRequest: result.requests > 0 ? (cpuAfter - cpuBefore) / result.requests : Number.NaN,
    treeRssPeakBytes,
    processHwmMaxBytes,
  };
}
