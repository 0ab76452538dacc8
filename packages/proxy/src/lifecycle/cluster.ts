/**
 * `--workers N|auto` with node:cluster. The primary owns everything that must happen once: it reads and
 * validates the routes file (at start, on change, on SIGHUP and on `POST /reload`), counts reloads, runs the
 * admin listener, and supervises the workers (a worker that dies is replaced and gets the current table). Workers
 * only serve traffic: each runs createProxy() without admin listener or routes file, and takes route tables from
 * the primary over IPC. A reload answers only after every worker applied it, so "reloaded" means "everywhere".
 *
 * `/metrics` on the primary is prom-client's AggregatorRegistry over the workers (requests, durations,
 * connections summed; upstream_up the minimum) followed by the primary's own reload and ACME metrics.
 *
 * ACME: the primary runs the machine's one AcmeManager (one account, one order per name at a time, whatever the
 * worker count). It tells the workers when a certificate was stored (they read it from the shared `--acme-dir`,
 * tls/acme/follower.ts) and which challenges are up (the workers serve the plain and TLS traffic the CA validates
 * with); a worker starting while a challenge is up gets it with its first table.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { loadPromClient, ProxyMetrics } from '../observe/metrics.js';
import { loadRouteTableFile } from '../route-table/load.js';
import { createReloader, type Reloader } from '../route-table/reloader.js';
import type { RouteTableConfig } from '../route-table/types.js';
import type { ValidatedRouteTable } from '../route-table/validate.js';
import { AcmeFollower } from '../tls/acme/follower.js';
import { type AcmeChallengeEvent, AcmeManager, acmeHostNames, challengeOrder } from '../tls/acme/manager.js';
import { certificateFiles, loadCertificates } from '../tls/certificates.js';
import { type AdminBackend, createAdminServer, type ReloadOutcome } from './admin.js';
import type { ListenAddress, ProxySettings } from './config.js';
import { createProxy, type NodixProxy, type ProxyOptions } from './create-proxy.js';

const SETTINGS_ENV = 'NODIX_PROXY_WORKER_SETTINGS';
const EMPTY_TABLE: RouteTableConfig = { version: 1, hosts: {} };

type ToWorker =
  | { type: 'nodix-proxy:table'; id: number; config: unknown; source: string }
  | { type: 'nodix-proxy:shutdown'; timeoutMs: number }
  | { type: 'nodix-proxy:stats'; id: number }
  | { type: 'nodix-proxy:acme'; issued?: string; challenge?: AcmeChallengeEvent };
type FromWorker =
  | { type: 'nodix-proxy:hello' }
  | { type: 'nodix-proxy:ready'; address: ListenAddress; tls: ListenAddress | null }
  | { type: 'nodix-proxy:applied'; id: number; ok: boolean; error?: string }
  | { type: 'nodix-proxy:stats'; id: number; inFlight: number; openConnections: number };

/** The options a worker (and a single-process CLI) runs createProxy with. */
export function proxyOptionsFromSettings(settings: ProxySettings): ProxyOptions {
  return {
    listen: settings.listen,
    listenTls: settings.listenTls,
    tlsSessionResumption: settings.tlsSessionResumption,
    adminListen: settings.adminListen,
    routes: settings.routes,
    // Workers get the table as JSON: its relative certificate paths are the routes file's.
    routeTableDir: settings.routes === null ? undefined : dirname(resolve(settings.routes)),
    watch: settings.watch,
    timeouts: settings.timeouts,
    limits: settings.limits,
    health: settings.health,
    trustedProxies: settings.trustedProxies,
    underscoresInHeaders: settings.underscoresInHeaders,
    accessLog: settings.accessLog,
    accessLogFormat: settings.accessLogFormat,
    adminAllowedHosts: settings.adminAllowedHosts,
    h2: settings.h2,
    acme: settings.acme,
  };
}

export interface ClusterPrimary {
  listen: ListenAddress;
  admin: ListenAddress | null;
  /** The TLS listener's address, null without one. */
  tls: ListenAddress | null;
  reload(): Promise<ReloadOutcome>;
  close(): Promise<void>;
}

/** Starts the workers; resolves once all of them listen. Rejects with RouteTableError for a bad routes file. */
export async function startPrimary(
  settings: ProxySettings,
  log: (line: string) => void,
): Promise<ClusterPrimary> {
  let config: unknown = EMPTY_TABLE;
  let source = '(no routes file)';
  let initialText = '';
  let initialTable: ValidatedRouteTable | undefined;
  // With a TLS listener the primary checks a table's certificates before any worker gets it: a bad one is
  // refused here, once, with the file and the reason (the workers load them again to serve them).
  const checkCertificates = (table: ValidatedRouteTable) => {
    if (settings.listenTls !== null) loadCertificates(table, { previous: null, warn: () => {} });
  };
  if (settings.routes !== null) {
    const loaded = await loadRouteTableFile(settings.routes);
    checkCertificates(loaded.table);
    config = loaded.table.config;
    initialText = loaded.text;
    initialTable = loaded.table;
    source = settings.routes;
  }

  const metrics = new ProxyMetrics({ traffic: false, defaultMetrics: false, reloads: true });
  // prom-client is loaded lazily (metrics.ts); a cluster needs it from the start to collect over IPC.
  const { AggregatorRegistry } = loadPromClient();
  const aggregator = new AggregatorRegistry();
  let shuttingDown = false;
  let nextId = 1;
  const pendingAcks = new Map<
    number,
    { waiting: Set<Worker>; done: (errors: string[]) => void; errors: string[] }
  >();
  const live = new Set<Worker>();
  /** Workers that said hello: only they can receive messages (a shutdown for the others waits for their hello). */
  const greeted = new WeakSet<Worker>();

  const send = (worker: Worker, message: ToWorker) => {
    if (worker.isConnected()) worker.send(message);
  };
  const broadcast = (message: ToWorker) => {
    for (const worker of live) if (greeted.has(worker)) send(worker, message);
  };

  const acme = new AcmeManager({
    dir: settings.acme.dir,
    directoryUrl: settings.acme.directoryUrl,
    email: settings.acme.email,
    caFile: settings.acme.caFile,
    renewDays: settings.acme.renewDays,
    challenges: challengeOrder(settings.listen, settings.listenTls),
    log,
    onOrder: (result) => metrics.acmeOrders[result]++,
    onIssued: (name) => broadcast({ type: 'nodix-proxy:acme', issued: name }),
    onChallenge: (challenge) => broadcast({ type: 'nodix-proxy:acme', challenge }),
  });

  /** Sends the current table to `workers` and resolves when each applied it (or died). */
  const distribute = (workers: Iterable<Worker>): Promise<string[]> =>
    new Promise((resolve) => {
      const id = nextId++;
      const waiting = new Set(workers);
      if (waiting.size === 0) return resolve([]);
      pendingAcks.set(id, { waiting, done: resolve, errors: [] });
      for (const worker of waiting) send(worker, { type: 'nodix-proxy:table', id, config, source });
    });

  const settle = (worker: Worker, id: number | null, error?: string) => {
    for (const [key, pending] of pendingAcks) {
      if (id !== null && key !== id) continue;
      if (!pending.waiting.delete(worker)) continue;
      if (error !== undefined) pending.errors.push(error);
      if (pending.waiting.size === 0) {
        pendingAcks.delete(key);
        pending.done(pending.errors);
      }
    }
  };

  /** Answers to a /healthz stats request, by request id. */
  const statsReplies = new Map<
    number,
    (worker: Worker, stats: { inFlight: number; openConnections: number }) => void
  >();
  /** In-flight requests and open connections summed over the workers that answer within a second. */
  const workerStats = (): Promise<{ inFlight: number; openConnections: number }> =>
    new Promise((resolve) => {
      const id = nextId++;
      const waiting = new Set([...live].filter((worker) => greeted.has(worker) && worker.isConnected()));
      const sum = { inFlight: 0, openConnections: 0 };
      const done = () => {
        clearTimeout(timer);
        statsReplies.delete(id);
        resolve(sum);
      };
      const timer = setTimeout(done, 1000);
      statsReplies.set(id, (worker, stats) => {
        if (!waiting.delete(worker)) return;
        sum.inFlight += stats.inFlight;
        sum.openConnections += stats.openConnections;
        if (waiting.size === 0) done();
      });
      if (waiting.size === 0) done();
      for (const worker of waiting) send(worker, { type: 'nodix-proxy:stats', id });
    });

  let readyResolve: ((address: ListenAddress) => void) | null = null;
  let readyReject: ((err: Error) => void) | null = null;
  const ready = new Promise<ListenAddress>((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  let readyCount = 0;
  let boundAddress: ListenAddress | null = null;
  /** The TLS listener's address as the workers bound it (port 0 is one shared port). */
  let tlsAddress: ListenAddress | null = null;

  const fork = (index: number): void => {
    const worker = cluster.fork({ [SETTINGS_ENV]: JSON.stringify(settings) });
    live.add(worker);
    worker.on('message', (message: FromWorker) => {
      if (message?.type === 'nodix-proxy:hello') {
        // The worker listens for messages now (anything sent before would be lost): its first table goes out;
        // it starts listening once it applied it. A shutdown that began meanwhile is passed on instead.
        greeted.add(worker);
        if (shuttingDown) {
          send(worker, { type: 'nodix-proxy:shutdown', timeoutMs: settings.timeouts.shutdownMs });
        } else {
          for (const challenge of acme.pendingChallenges())
            send(worker, { type: 'nodix-proxy:acme', challenge });
          distribute([worker]);
        }
      } else if (message?.type === 'nodix-proxy:ready') {
        boundAddress ??= message.address;
        tlsAddress ??= message.tls ?? null;
        if (++readyCount === settings.workers) readyResolve?.(message.address);
      } else if (message?.type === 'nodix-proxy:applied') {
        settle(worker, message.id, message.ok ? undefined : (message.error ?? 'failed'));
      } else if (message?.type === 'nodix-proxy:stats') {
        statsReplies.get(message.id)?.(worker, message);
      }
    });
    worker.on('exit', (code, signal) => {
      live.delete(worker);
      settle(worker, null);
      if (shuttingDown) return;
      if (boundAddress === null) {
        readyReject?.(new Error(`worker ${index} exited during start (${signal ?? `code ${code}`})`));
        return;
      }
      log(`[proxy primary] worker ${index} exited (${signal ?? `code ${code}`}), starting a new one`);
      const timer = setTimeout(() => {
        if (!shuttingDown) fork(index);
      }, 500);
      timer.unref();
    });
  };

  for (let i = 0; i < settings.workers; i++) fork(i + 1);
  let address: ListenAddress;
  try {
    address = await ready;
  } catch (err) {
    shuttingDown = true;
    for (const worker of live) worker.kill();
    throw err;
  }
  acme.setNames(acmeHostNames(config));

  // The routes file's reloads and watching (route-table/reloader.ts, shared with createProxy): applying a table
  // means every worker that is up applied it; workers still starting get it with their hello.
  const routesFile = settings.routes;
  const reloader: Reloader | null =
    routesFile === null
      ? null
      : createReloader({
          file: routesFile,
          initialText,
          apply: async (table) => {
            checkCertificates(table);
            config = table.config;
            const errors = await distribute([...live].filter((worker) => greeted.has(worker)));
            if (errors.length > 0) {
              log(`[proxy primary] route table not applied by every worker: ${errors[0]}`);
              throw new Error(errors[0]);
            }
            log(
              `[proxy primary] route table applied by ${live.size} workers: ${table.hosts.length} hosts from ${routesFile}`,
            );
            acme.setNames(acmeHostNames(config));
          },
          hosts: () => Object.keys((config as RouteTableConfig).hosts).length,
          recordReload: (ok) => metrics.recordReload(ok),
          log,
          logPrefix: '[proxy primary]',
          initialTable,
          dependencies: settings.listenTls === null ? undefined : certificateFiles,
        });
  const reload = async (onlyIfChanged: boolean): Promise<ReloadOutcome> => {
    if (reloader === null) return { ok: true, hosts: 0, source };
    try {
      const result = await reloader.reload(onlyIfChanged);
      return { ok: true, hosts: result.hosts, source: result.source };
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  };
  if (settings.watch) reloader?.watch();

  let adminServer: Server | null = null;
  let adminAddress: ListenAddress | null = null;
  if (settings.adminListen !== null) {
    const backend: AdminBackend = {
      metrics: async () => {
        const workers = await aggregator.clusterMetrics();
        const own = await metrics.registry.metrics();
        return { contentType: aggregator.contentType, body: `${workers}\n${own}` };
      },
      reload: () => reload(false),
      health: async () => ({
        status: shuttingDown ? 'draining' : 'ok',
        workers: live.size,
        hosts: Object.keys((config as RouteTableConfig).hosts).length,
        ...(await workerStats()),
      }),
      routeTable: () => config,
    };
    const admin = createAdminServer(backend, log, {
      listenHost: settings.adminListen.host,
      allowedHosts: settings.adminAllowedHosts,
    });
    adminServer = admin;
    const wanted = settings.adminListen;
    adminAddress = await new Promise<ListenAddress>((resolve, reject) => {
      admin.once('error', reject);
      admin.listen({ host: wanted.host, port: wanted.port }, () => {
        admin.off('error', reject);
        const bound = admin.address() as AddressInfo;
        resolve({ host: bound.address, port: bound.port });
      });
    }).catch((err: Error) => {
      shuttingDown = true;
      for (const worker of live) worker.kill();
      throw err;
    });
  }

  return {
    listen: address,
    admin: adminAddress,
    tls: tlsAddress,
    reload: () => reload(false),
    async close() {
      shuttingDown = true;
      reloader?.close();
      await acme.close();
      const exited = [...live].map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            worker.once('exit', () => resolve());
            if (greeted.has(worker))
              send(worker, { type: 'nodix-proxy:shutdown', timeoutMs: settings.timeouts.shutdownMs });
          }),
      );
      // A worker that does not finish within its own deadline (plus a margin) is killed.
      const killer = setTimeout(() => {
        for (const worker of live) worker.process.kill('SIGKILL');
      }, settings.timeouts.shutdownMs + 3000);
      killer.unref();
      await Promise.all(exited);
      clearTimeout(killer);
      if (adminServer !== null) {
        const admin = adminServer;
        await new Promise<void>((resolve) => {
          admin.close(() => resolve());
          admin.closeAllConnections();
        });
      }
    },
  };
}

/**
 * A worker process: waits for its first table, listens, then follows the primary's messages. `onListening` runs
 * once it listens (the bin's V8 settings for serving).
 */
export function runWorker(log: (line: string) => void, onListening: () => void = () => {}): void {
  const raw = process.env[SETTINGS_ENV];
  if (raw === undefined) throw new Error(`cluster worker started without ${SETTINGS_ENV}`);
  const settings = JSON.parse(raw) as ProxySettings;
  const prefix = `[proxy worker ${cluster.worker?.id ?? process.pid}]`;
  const workerLog = (line: string) => log(line.replace(/^\[proxy\]/, prefix));
  // Signals are the primary's business (a terminal's Ctrl-C reaches the whole process group): it tells workers
  // to drain over IPC. Without these handlers SIGHUP would kill a worker.
  for (const signal of ['SIGHUP', 'SIGINT', 'SIGTERM'] as const) process.on(signal, () => {});

  let proxy: NodixProxy | null = null;
  let stopping = false;
  // Certificates of "acme" hosts: read from the state directory the primary's manager writes.
  const acmeFollower = new AcmeFollower(settings.acme.dir, workerLog);
  const reply = (message: FromWorker) => {
    if (process.connected) process.send?.(message);
  };
  const stop = (timeoutMs: number) => {
    if (stopping) return;
    stopping = true;
    const done = proxy === null ? Promise.resolve() : proxy.close({ timeoutMs });
    done.finally(() => {
      if (process.connected) process.disconnect();
    });
  };

  process.on('message', (message: ToWorker) => {
    if (message?.type === 'nodix-proxy:table') {
      if (proxy === null) {
        try {
          const options = proxyOptionsFromSettings(settings);
          proxy = createProxy({
            ...options,
            adminListen: null,
            routes: null,
            // Only the primary talks to the CA (one account, one order per name for the whole machine).
            acme: acmeFollower,
            routeTable: message.config,
            log: workerLog,
            metrics: { reloads: false, acmeOrders: false },
          });
        } catch (err) {
          workerLog(`${prefix} cannot start: ${(err as Error).message}`);
          process.exitCode = 2;
          process.disconnect();
          return;
        }
        // Constructing an AggregatorRegistry is what makes prom-client answer the primary's metric requests here.
        const { AggregatorRegistry } = loadPromClient();
        new AggregatorRegistry();
        AggregatorRegistry.setRegistries([proxy.metrics.registry]);
        const started = proxy;
        started.listen().then(
          (addresses) => {
            reply({ type: 'nodix-proxy:applied', id: message.id, ok: true });
            reply({ type: 'nodix-proxy:ready', address: addresses.listen, tls: addresses.tls });
            onListening();
          },
          (err: NodeJS.ErrnoException) => {
            workerLog(`${prefix} cannot listen: ${err.code ?? err.message}`);
            process.exitCode = 1;
            process.disconnect();
          },
        );
        return;
      }
      try {
        proxy.setRouteTable(message.config, message.source);
        reply({ type: 'nodix-proxy:applied', id: message.id, ok: true });
      } catch (err) {
        reply({ type: 'nodix-proxy:applied', id: message.id, ok: false, error: (err as Error).message });
      }
    } else if (message?.type === 'nodix-proxy:acme') {
      if (message.challenge !== undefined) acmeFollower.challenge(message.challenge);
      // Handshakes ask the follower each time (tls/certificates.ts): the next one sees the new certificate.
      if (message.issued !== undefined) acmeFollower.issued(message.issued);
    } else if (message?.type === 'nodix-proxy:shutdown') {
      stop(message.timeoutMs);
    } else if (message?.type === 'nodix-proxy:stats') {
      const stats = proxy?.stats();
      reply({
        type: 'nodix-proxy:stats',
        id: message.id,
        inFlight: stats?.inFlight ?? 0,
        openConnections: stats?.openConnections ?? 0,
      });
    }
  });
  reply({ type: 'nodix-proxy:hello' });
  // The primary is gone (crashed or killed): nobody will send work or a shutdown, so drain and leave.
  process.on('disconnect', () => stop(settings.timeouts.shutdownMs));
}

/** Whether this process is a cluster worker started by startPrimary. */
export function isProxyWorker(): boolean {
  return cluster.isWorker && process.env[SETTINGS_ENV] !== undefined;
}
