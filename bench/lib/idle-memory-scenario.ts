/**
 * Running the idle-connection scenario (issue 10): how much memory a proxy spends per idle keep-alive connection.
 * Every round starts each setup afresh (in an order rotated round by round), and then:
 *
 * 1. the client (`idle-client.ts`, pinned to the load generator's core) warms the server up with two waves of
 *    `concurrency` connections carrying one GET each, closed again; the harness waits 1 s and samples the server
 *    tree's RSS (the last of 3 samples, 250 ms apart): "before";
 * 2. the client opens `connections` connections, at most `concurrency` at once, one GET on each, answers read in
 *    full, and leaves them open; the harness waits 2 s and samples 5 times, 500 ms apart: the last is "after";
 * 3. the client ends every connection and exits; the server must have held every one of them while idle and
 *    must close its side of each within 10 s (/proc/net/tcp: no socket left on its port), and is stopped.
 *
 * The figure is (after - before) / connections in KB, median over rounds, and the same-round ratio of two setups.
 * The warm-up uses the same concurrency as the opening, so the upstream sockets it leaves pooled are in both
 * samples and the growth is the client connections' own. Servers and client get a raised RLIMIT_NOFILE
 * (`prlimit`), nginx a `worker_connections` above the connection count.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { IdleMemoryScenario } from '../scenarios/types.js';
import type { IdleClientOptions, IdleClientResult } from './idle-client.js';
import type { Pinning } from './pinning.js';
import { serverConnections, treeFdCount, treeRssBytes } from './proc-stats.js';
import { type RunningProcess, scenarioTempDir, startProcess } from './processes.js';
import type {
  FigureResult,
  IdleRound,
  IdleSetupResult,
  MachineInfo,
  RunSettings,
  ScenarioResult,
} from './result-types.js';
import { type Backend, type StartedSetup, startBackends, startSetup } from './setups.js';
import { median, sameRoundRatios } from './stats.js';

const clientPath = fileURLToPath(new URL('./idle-client.ts', import.meta.url));
/** Connections the client opens at once, and the size of each warm-up wave. */
const CONCURRENCY = 100;
/** File descriptors beyond the idle connections: upstream sockets, listeners, logs, node's own. */
const FD_HEADROOM = 2048;

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

/** The hard RLIMIT_NOFILE of this process (its children inherit it); Infinity for unlimited. */
function hardFileLimit(): number {
  try {
    const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (line?.[2]) return line[2] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(line[2]);
  } catch {
    // Not Linux.
  }
  return 0;
}

/**
 * `prlimit --nofile=SOFT:HARD` to put in front of a command line, so it can hold `needed` descriptors: the soft
 * limit raised to `needed`, the hard one only if it is lower (which takes root). Empty without prlimit; then the
 * limits the harness inherited apply, and a server that runs out of descriptors fails the scenario.
 */
export function fileLimitPrefix(needed: number, hard = hardFileLimit()): string[] {
  if (spawnSync('prlimit', ['--version'], { stdio: 'ignore' }).status !== 0) return [];
  const newHard = hard >= needed ? (Number.isFinite(hard) ? String(hard) : 'unlimited') : String(needed);
  return ['prlimit', `--nofile=${needed}:${newHard}`];
}

/** Last of `count` samples of the trees' RSS, `everyMs` apart; every sample is kept for the report. */
async function sampleRss(roots: readonly number[], count: number, everyMs: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    if (i > 0) await sleep(everyMs);
    samples.push(treeRssBytes(roots));
  }
  return samples;
}

/** The client process with a way to wait for its next line matching a pattern. */
async function startClient(
  options: IdleClientOptions,
  prefix: readonly string[],
): Promise<{ proc: RunningProcess; waitFor: (pattern: RegExp, timeoutMs: number) => Promise<void> }> {
  const waiters = new Set<(line: string) => void>();
  const proc = await startProcess({
    label: 'idle client',
    command: process.execPath,
    args: ['--import', 'tsx', clientPath, JSON.stringify(options)],
    prefix,
    ready: { line: /^idle client warm$/ },
    readyTimeoutMs: 60_000,
    onLine: (line) => {
      for (const waiter of waiters) waiter(line);
    },
  });
  const waitFor = (pattern: RegExp, timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      const done = (error?: Error) => {
        clearTimeout(timer);
        waiters.delete(waiter);
        if (error) reject(error);
        else resolve();
      };
      const waiter = (line: string) => {
        if (pattern.test(line)) done();
      };
      const timer = setTimeout(
        () => done(new Error(`idle client: no ${pattern} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      waiters.add(waiter);
      proc.exited.then(() =>
        done(new Error(`idle client exited (code ${proc.exit?.code}):\n${proc.outputTail()}`)),
      );
    });
  return { proc, waitFor };
}

/** One setup, one round: the three steps of the header comment on a server already started. */
async function measureIdle(
  setup: StartedSetup,
  connections: number,
  clientPrefix: readonly string[],
  hosts: string[],
): Promise<IdleRound> {
  const port = Number(new URL(setup.url).port);
  const roots = setup.measuredPids;
  const { proc: client, waitFor } = await startClient(
    { port, connections, concurrency: CONCURRENCY, hosts },
    clientPrefix,
  );
  try {
    await sleep(1000);
    const before = await sampleRss(roots, 3, 250);
    const fdsBefore = treeFdCount(roots);
    const opened = waitFor(/^idle client open \d+$/, 180_000);
    client.signal('SIGUSR1');
    await opened;
    await sleep(2000);
    const idleSamples = await sampleRss(roots, 5, 500);
    const fdsIdle = treeFdCount(roots);
    if (setup.proc?.exit)
      throw new Error(`server exited with the connections open (code ${setup.proc.exit.code})`);
    const connectionsIdle = serverConnections(port);
    client.signal('SIGUSR2');
    // Unref'd: a timer left pending must not keep the harness alive after the scenario.
    await Promise.race([client.exited, sleep(60_000, undefined, { ref: false })]);
    if (client.exit?.code !== 0)
      throw new Error(`idle client failed (exit ${client.exit?.code}):\n${client.outputTail()}`);
    const resultLine = client
      .outputTail()
      .split('\n')
      .find((line) => line.startsWith('RESULT '));
    if (!resultLine) throw new Error(`idle client printed no RESULT line:\n${client.outputTail()}`);
    const result = JSON.parse(resultLine.slice('RESULT '.length)) as IdleClientResult;
    if (result.opened !== connections)
      throw new Error(`idle client opened ${result.opened} connections, expected ${connections}`);
    if (result.closedByServer > 0)
      throw new Error(`the server closed ${result.closedByServer} connections that should have stayed idle`);
    if (connectionsIdle < connections)
      throw new Error(
        `the server held ${connectionsIdle} connections on its port while ${connections} were idle`,
      );
    // The server must let go of every connection once the client has closed its side.
    let connectionsAfterClose = serverConnections(port);
    for (let waited = 0; connectionsAfterClose > 0 && waited < 10_000; waited += 100) {
      await sleep(100);
      connectionsAfterClose = serverConnections(port);
    }
    if (connectionsAfterClose > 0)
      throw new Error(
        `the server still holds ${connectionsAfterClose} connections 10 s after the client closed them`,
      );
    const fdsAfterClose = treeFdCount(roots);
    const rssBeforeBytes = before.at(-1)!;
    const rssAfterBytes = idleSamples.at(-1)!;
    return {
      connections,
      rssBeforeBytes,
      rssAfterBytes,
      rssIdleSamplesBytes: idleSamples,
      kbPerConnection: (rssAfterBytes - rssBeforeBytes) / connections / 1024,
      fdsBefore,
      fdsIdle,
      fdsAfterClose,
      connectionsIdle,
      connectionsAfterClose,
      openSeconds: result.openSeconds,
    };
  } finally {
    await client.stop();
  }
}

export function idleFigures(
  scenario: IdleMemoryScenario,
  setups: readonly IdleSetupResult[],
): FigureResult[] {
  const byName = new Map(setups.map((s) => [s.name, s]));
  const figures: FigureResult[] = setups.map((setup) => ({
    label: `${setup.name} RSS growth per idle connection (KB)`,
    metric: 'kbPerConnection',
    value: setup.failure ? Number.NaN : setup.kbPerConnection,
    unit: 'KB',
    verdict: 'n/a',
  }));
  const of = byName.get(scenario.of);
  const over = byName.get(scenario.over);
  const usable = of && over && !of.failure && !over.failure;
  const { perRound, median: value } = usable
    ? sameRoundRatios(
        of.rounds.map((r) => r.kbPerConnection),
        over.rounds.map((r) => r.kbPerConnection),
      )
    : { perRound: [], median: Number.NaN };
  figures.push({
    label: `memory per idle connection ${scenario.of} / ${scenario.over}`,
    metric: 'kbPerConnection',
    value,
    perRound,
    unit: 'x',
    verdict: 'n/a',
  });
  return figures;
}

export async function runIdleMemoryScenario(
  scenario: IdleMemoryScenario,
  settings: RunSettings,
  pinning: Pinning,
  machine: MachineInfo,
): Promise<ScenarioResult> {
  const started = Date.now();
  const errors: string[] = [];
  const connections = settings.mode === 'quick' ? scenario.quickConnections : scenario.connections;
  const fdLimit = connections + FD_HEADROOM;
  const limitPrefix = fileLimitPrefix(fdLimit);
  const serverPinning: Pinning = { ...pinning, serverPrefix: [...pinning.serverPrefix, ...limitPrefix] };
  const clientPrefix = [...pinning.loadPrefix, ...limitPrefix];
  const { dir, remove: removeDir } = await scenarioTempDir(scenario.name);
  const backends: Backend[] = [];
  const results: IdleSetupResult[] = scenario.setups.map((spec) => ({
    name: spec.name,
    server: '',
    notes: [],
    rounds: [],
    kbPerConnection: Number.NaN,
  }));
  const hosts = scenario.backends;

  try {
    await startBackends(scenario.backends, pinning, backends);
    const count = scenario.setups.length;
    for (let round = 0; round < settings.rounds; round++) {
      for (let step = 0; step < count; step++) {
        const index = (step + round) % count;
        const spec = scenario.setups[index]!;
        const result = results[index]!;
        if (result.failure) continue;
        let setup: StartedSetup | undefined;
        try {
          setup = await startSetup(spec, index, {
            dir,
            pinning: serverPinning,
            backends,
            maxConnections: fdLimit,
          });
          result.server = setup.description;
          result.notes = [...new Set([...result.notes, ...setup.notes])];
          const measured = await measureIdle(setup, connections, clientPrefix, hosts);
          result.rounds[round] = measured;
          log(
            `${scenario.name} round ${round + 1}/${settings.rounds} ${spec.name}: ${connections} idle connections, ` +
              `RSS ${(measured.rssBeforeBytes / 2 ** 20).toFixed(1)} → ${(measured.rssAfterBytes / 2 ** 20).toFixed(1)} MB, ` +
              `${measured.kbPerConnection.toFixed(2)} KB per connection`,
          );
        } catch (error) {
          result.failure = (error as Error).message;
          errors.push(`${spec.name}: ${result.failure}`);
        } finally {
          // A fresh server every round; never a backend (which `direct` would hand back as its server).
          if (setup?.proc && !backends.some((b) => b.proc === setup?.proc)) await setup.proc.stop();
        }
      }
    }
  } catch (error) {
    errors.push((error as Error).message);
  } finally {
    for (const backend of [...backends].reverse()) await backend.proc.stop();
    await removeDir();
  }

  for (const result of results) {
    result.kbPerConnection = median(result.rounds.filter(Boolean).map((r) => r.kbPerConnection));
  }
  return {
    scenario: scenario.name,
    issue: scenario.issue,
    description: scenario.description,
    kind: 'idle-memory',
    settings,
    machine,
    setups: [],
    idle: { connections, concurrency: CONCURRENCY, setups: results },
    figures: idleFigures(scenario, results),
    errors,
    wallSeconds: (Date.now() - started) / 1000,
  };
}
