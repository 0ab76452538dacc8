/**
 * `createProxy()`: the proxy as a library — wires the traffic listener (inbound/server.ts), the admin listener,
 * the route table life cycle (load, validate, build aside, swap one reference, retire the old one) and graceful
 * shutdown. The CLI (bin.ts), the
 * cluster workers (cluster.ts), the tests, the bench harness and the deployer's agent all run it through this.
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex, Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Registry } from 'prom-client';
import { ProxyConfigError, ProxyStateError, RouteTableError } from '../errors.js';
import { createH2Handler, type H2Handler } from '../inbound/h2.js';
import { createFastH2Handler } from '../inbound/h2-fast.js';
import { createTrafficServer } from '../inbound/server.js';
import { createTrustedProxies } from '../inbound/trust.js';
import type { UpgradeContext } from '../inbound/upgrade.js';
import {
  ACCESS_LOG_FORMATS,
  type AccessLog,
  type AccessLogFormat,
  createAccessLog,
} from '../observe/access-log.js';
import { rateLimitedLog } from '../observe/log.js';
import { ProxyMetrics } from '../observe/metrics.js';
import {
  type BuildContext,
  buildRouteTable,
  type RouteTable,
  retireRouteTable,
} from '../route-table/build.js';
import { parseRouteTable } from '../route-table/load.js';
import { createReloader, type Reloader, type ReloadResult } from '../route-table/reloader.js';
import { type ValidatedRouteTable, validateRouteTable } from '../route-table/validate.js';
import { offersOnlyAcmeTls } from '../tls/acme/client-hello.js';
import { AcmeManager, type AcmeManagerOptions, challengeOrder } from '../tls/acme/manager.js';
import { AcmeSource } from '../tls/acme/source.js';
import {
  type AcmeCertificates,
  type CertificateStore,
  certificateFiles,
  loadCertificates,
} from '../tls/certificates.js';
import { TlsListener } from '../tls/listener.js';
import { type Upstream, UpstreamPools } from '../upstream/pool.js';
import { type AdminBackend, createAdminServer, type ReloadOutcome } from './admin.js';
import {
  type AcmeSettings,
  checkTimeouts,
  DEFAULT_ADMIN_LISTEN,
  DEFAULT_H2_SETTINGS,
  DEFAULT_LIMITS,
  DEFAULT_LISTEN,
  DEFAULT_PASSIVE_HEALTH,
  DEFAULT_TIMEOUTS,
  H2_BOUNDS,
  type H2Settings,
  type ListenAddress,
  type PassiveHealthSettings,
  type ProxyLimits,
  type ProxyTimeouts,
  parseAdminListen,
  parseListen,
} from './config.js';

export interface ProxyOptions {
  /** Traffic listener: `HOST:PORT` or {host, port}. Default `0.0.0.0:8080`; port 0 picks a free port. */
  listen?: string | ListenAddress;
  /**
   * TLS listener: `HOST:PORT` or {host, port}; null or '' (default): none. Certificates come from the route
   * table (`tls`, `defaultTls`) and, for `"acme"` hosts, from `acme`.
   */
  listenTls?: string | ListenAddress | null;
  /**
   * TLS session resumption (session tickets). Default true; false makes every handshake a full one (the
   * handshake benchmark compares full handshakes with nginx's `ssl_session_tickets off`).
   */
  tlsSessionResumption?: boolean;
  /**
   * Relative certificate paths of a table not read from a file (`routeTable`, setRouteTable) are resolved against
   * this directory (a cluster worker passes its primary's routes file directory). Default the working directory.
   */
  routeTableDir?: string;
  /** Admin listener: `HOST:PORT`, {host, port}, or `off`/null. Default `127.0.0.1:9090`. */
  adminListen?: string | ListenAddress | null;
  /** Host names the admin listener answers besides loopback and its own address (others get 421). */
  adminAllowedHosts?: string[];
  /** Route table file; reloaded on change (see `watch`), on `reload()`, SIGHUP (CLI) and `POST /reload`. */
  routes?: string | null;
  /** Initial route table when there is no file (a RouteTableConfig, validated like a file). Default: no hosts. */
  routeTable?: unknown;
  /** Watch the routes file. Default true when `routes` is set. */
  watch?: boolean;
  timeouts?: Partial<ProxyTimeouts>;
  limits?: Partial<ProxyLimits>;
  /** Passive health defaults; a route-table host's `health.maxFails`/`cooldownMs` override them. */
  health?: Partial<PassiveHealthSettings>;
  /** IPs/CIDRs whose X-Forwarded-* headers are kept. Default none. */
  trustedProxies?: string[];
  /**
   * Forward request header names that contain an underscore. Default false: they are dropped, as nginx's
   * `underscores_in_headers off` does (a framework mapping `_` and `-` alike would read `X_Forwarded_For` as
   * X-Forwarded-For).
   */
  underscoresInHeaders?: boolean;
  /** `-` (stdout), a file path, a writable stream, or null (default) for no access log. */
  accessLog?: string | Writable | null;
  /** `nodix` (default), `common`, `combined` or `json` (observe/access-log.ts). */
  accessLogFormat?: AccessLogFormat;
  /** Where log lines go. Default: standard error. */
  log?: (line: string) => void;
  /**
   * Read plain requests off the socket with the proxy's own reader (fast-path.ts), and HTTP/2 with the proxy's
   * own frame code (h2-fast.ts). Default true; false leaves every request to node:http's parser and HTTP/2 to
   * node:http2 (h2.ts), which the differential tests use to compare the request paths.
   */
  fastPath?: boolean;
  /** HTTP/2 on the TLS listener (inbound/h2-fast.ts); defaults: DEFAULT_H2_SETTINGS. */
  h2?: Partial<H2Settings>;
  /**
   * Certificates of route-table hosts with `"tls": "acme"`: settings run an ACME manager here
   * (tls/acme/manager.ts; unset fields take the settings' defaults); an AcmeCertificates source (a cluster
   * worker's AcmeFollower, tls/acme/follower.ts, or a test's) serves what it has; null or absent: none.
   */
  acme?:
    | (Partial<AcmeSettings> & { dir: string } & Pick<
          AcmeManagerOptions,
          'challenges' | 'retryMinMs' | 'retryMaxMs' | 'pollMs'
        >)
    | AcmeCertificates
    | null;
  metrics?: {
    /** prom-client default process metrics. Default true. */
    defaultMetrics?: boolean;
    /** Count reloads here. Default true; cluster workers leave it to the primary. */
    reloads?: boolean;
    /** Count ACME orders here. Default true; cluster workers leave it to the primary. */
    acmeOrders?: boolean;
    registry?: Registry;
  };
}

export interface ProxyAddresses {
  listen: ListenAddress;
  admin: ListenAddress | null;
  /** The TLS listener's address, null without one. */
  tls: ListenAddress | null;
}

export type { ReloadResult };

export interface NodixProxy {
  /**
   * The listening server. Its connections start on the fast path (fast-path.ts); node:http's own connection
   * handling gets those the fast path hands over (bodies, upgrades, anything unusual).
   */
  readonly server: Server;
  readonly adminServer: Server | null;
  /** HTTP/2 sessions over TLS sockets that negotiated `h2`; null when HTTP/2 is off (`h2.enabled: false`). */
  readonly h2: H2Handler | null;
  /** The TLS listener (its `handlers` are where HTTP/2 and TLS-ALPN-01 plug in), null without `listenTls`. */
  readonly tls: TlsListener | null;
  readonly metrics: ProxyMetrics;
  /** The ACME manager (orders, renewals, challenges) or the source given with `acme`, else null. */
  readonly acme: AcmeCertificates | null;
  /** The table serving now (replaced, never mutated, by reloads). */
  readonly routeTable: RouteTable;
  /** Starts both listeners; resolves with the addresses really bound (the real port when 0 was asked). */
  listen(): Promise<ProxyAddresses>;
  /**
   * Graceful stop: stop accepting, let in-flight requests finish (at most `timeoutMs`, default the shutdown
   * timeout), then close every connection, pool and timer. Idempotent.
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
  /** Re-reads the routes file. Rejects with RouteTableError (the last good table keeps serving). */
  reload(): Promise<ReloadResult>;
  /** Validates and swaps in `config`. Throws RouteTableError (the last good table keeps serving). */
  setRouteTable(config: unknown, source?: string): ReloadResult;
  /** Counters for health endpoints and tests. */
  stats(): { inFlight: number; openConnections: number; upgrades: number; hosts: number; pools: number };
}

const EMPTY_TABLE = { version: 1, hosts: {} };

function option<T>(name: string, parse: (value: unknown) => T, value: unknown): T {
  try {
    return parse(value);
  } catch (err) {
    throw new ProxyConfigError(`createProxy: ${name} ${(err as Error).message}`);
  }
}

function merged<T extends object>(
  name: string,
  defaults: T,
  given: Partial<T> | undefined,
  min: (key: keyof T) => number,
): T {
  const out = { ...defaults };
  for (const [key, value] of Object.entries(given ?? {})) {
    if (!(key in defaults)) throw new ProxyConfigError(`createProxy: unknown option ${name}.${key}`);
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min(key as keyof T)) {
      throw new ProxyConfigError(
        `createProxy: ${name}.${key} must be an integer >= ${min(key as keyof T)} (value was ${JSON.stringify(value)})`,
      );
    }
    (out as Record<string, unknown>)[key] = value;
  }
  return out;
}

/** The h2 options over their defaults; bounds as in lifecycle/config.ts. */
function h2Options(given: Partial<H2Settings> | undefined): H2Settings {
  const { enabled, ...numbers } = given ?? {};
  const { enabled: _on, ...defaults } = DEFAULT_H2_SETTINGS;
  const checked = merged('h2', defaults, numbers, () => 1);
  for (const [key, [min, max]] of Object.entries(H2_BOUNDS)) {
    const value = checked[key as keyof typeof checked];
    if (value < min || value > max)
      throw new ProxyConfigError(`createProxy: h2.${key} must be from ${min} to ${max} (value was ${value})`);
  }
  if (enabled !== undefined && typeof enabled !== 'boolean')
    throw new ProxyConfigError(
      `createProxy: h2.enabled must be a boolean (value was ${JSON.stringify(enabled)})`,
    );
  return { enabled: enabled ?? DEFAULT_H2_SETTINGS.enabled, ...checked };
}

function accessLogFormat(value: unknown): AccessLogFormat {
  if (!(ACCESS_LOG_FORMATS as readonly unknown[]).includes(value))
    throw new Error(`must be one of ${ACCESS_LOG_FORMATS.join(', ')} (value was ${JSON.stringify(value)})`);
  return value as AccessLogFormat;
}

/** Creates a proxy (not listening yet). Options are checked here: a bad one throws ProxyConfigError. */
export function createProxy(options: ProxyOptions = {}): NodixProxy {
  const listenAddress = option('listen', parseListen, options.listen ?? DEFAULT_LISTEN);
  const tlsAddress =
    options.listenTls === undefined || options.listenTls === null || options.listenTls === ''
      ? null
      : option('listenTls', parseListen, options.listenTls);
  const adminAddress = option(
    'adminListen',
    parseAdminListen,
    options.adminListen === undefined ? DEFAULT_ADMIN_LISTEN : options.adminListen,
  );
  const timeouts = merged('timeouts', DEFAULT_TIMEOUTS, options.timeouts, (k) =>
    k === 'requestMs' || k === 'shutdownMs' ? 0 : 1,
  );
  checkTimeouts(timeouts);
  const limits = merged('limits', DEFAULT_LIMITS, options.limits, (k) => (k === 'maxHeaderSize' ? 1024 : 0));
  const h2Settings = h2Options(options.h2);
  const passive = merged('health', DEFAULT_PASSIVE_HEALTH, options.health, (k) => (k === 'maxFails' ? 1 : 0));
  const trust = createTrustedProxies(options.trustedProxies ?? []);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const routesFile = options.routes ?? null;
  const watchEnabled = options.watch ?? routesFile !== null;

  const metrics = new ProxyMetrics({
    registry: options.metrics?.registry,
    defaultMetrics: options.metrics?.defaultMetrics ?? true,
    reloads: options.metrics?.reloads ?? true,
    acmeOrders: options.metrics?.acmeOrders ?? true,
  });
  const pools = new UpstreamPools({
    connectTimeoutMs: timeouts.connectMs,
    headersTimeoutMs: timeouts.upstreamHeadersMs,
    bodyTimeoutMs: timeouts.upstreamBodyMs,
    keepAliveTimeoutMs: timeouts.upstreamKeepAliveMs,
    connections: limits.maxUpstreamConnections,
  });
  const buildContext: BuildContext = {
    pools,
    metrics,
    passive,
    onUpstreamChange: (upstream: Upstream, up: boolean, why: string) =>
      log(`[proxy] upstream ${upstream.origin} of ${upstream.hostKey} is ${up ? 'up' : 'down'}: ${why}`),
  };

  const logError = rateLimitedLog(log);

  const acme: AcmeCertificates | null =
    options.acme === undefined || options.acme === null
      ? null
      : 'contextFor' in options.acme
        ? options.acme
        : new AcmeManager({
            dir: options.acme.dir,
            directoryUrl: options.acme.directoryUrl,
            email: options.acme.email,
            caFile: options.acme.caFile,
            renewDays: options.acme.renewDays,
            challenges: options.acme.challenges ?? challengeOrder(listenAddress, tlsAddress),
            retryMinMs: options.acme.retryMinMs,
            retryMaxMs: options.acme.retryMaxMs,
            pollMs: options.acme.pollMs,
            log,
            onOrder: (result) => metrics.acmeOrders[result]++,
            onIssued: () => tls?.onIssued(),
            // Orders start once the listeners are bound (listen()).
            autoStart: false,
          });

  // The initial table: a bad one is the caller's mistake, thrown from here (the CLI exits 2 with it).
  let initial: ValidatedRouteTable;
  let initialText = '';
  if (routesFile !== null) {
    let text: string;
    try {
      text = readFileSync(routesFile, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new RouteTableError(routesFile, '', `cannot read the file (${e.code ?? e.message})`);
    }
    initial = parseRouteTable(text, routesFile);
    initialText = text;
  } else {
    initial = validateRouteTable(
      options.routeTable ?? EMPTY_TABLE,
      'createProxy({ routeTable })',
      options.routeTableDir,
    );
  }

  const accessLog: AccessLog | null =
    options.accessLog === undefined || options.accessLog === null || options.accessLog === ''
      ? null
      : createAccessLog(
          options.accessLog,
          option('accessLogFormat', accessLogFormat, options.accessLogFormat ?? 'nodix'),
        );

  const ctx: UpgradeContext = {
    table: buildRouteTable(initial, null, buildContext),
    trust,
    metrics,
    accessLog,
    draining: false,
    inFlight: 0,
    logError,
    underscoresInHeaders: options.underscoresInHeaders ?? false,
    httpsPort: tlsAddress === null || tlsAddress.port === 443 ? '' : `:${tlsAddress.port}`,
    upgradeTimeoutMs: timeouts.upgradeMs,
    upgradeSockets: new Set<Duplex>(),
  };
  metrics.upstreams = () => ctx.table.upstreams;

  // The TLS listener, when there is one, and the certificates of the table serving now.
  let tls: TlsListener | null = null;
  /** The table's certificates, read and checked (throws RouteTableError); null without a TLS listener. */
  const certificatesOf = (validated: ValidatedRouteTable): CertificateStore | null =>
    tls === null
      ? null
      : loadCertificates(validated, {
          previous: tls.certificates,
          warn: (line) => log(`[proxy] ${line}`),
          sessionResumption: options.tlsSessionResumption ?? true,
        });

  /**
   * Puts a validated table into service (in-flight requests finish on the one they started with). Its
   * certificates are read first: a bad one throws RouteTableError and nothing changes.
   */
  const install = (validated: ValidatedRouteTable, source: string): ReloadResult => {
    const certificates = certificatesOf(validated);
    const next = buildRouteTable(validated, ctx.table, buildContext);
    const old = ctx.table;
    ctx.table = next;
    // Heads remembered under the old table are no use any more, and would keep its hosts and pools alive.
    for (const conn of fastConnections) conn.forgetHeads();
    retireRouteTable(old, next, buildContext);
    if (certificates !== null) tls?.setCertificates(certificates);
    log(`[proxy] route table applied: ${next.hosts.length} hosts from ${source}`);
    return { hosts: next.hosts.length, source, changed: true };
  };

  // The routes file's reloads and watching (route-table/reloader.ts, shared with cluster.ts's primary).
  const reloader: Reloader | null =
    routesFile === null
      ? null
      : createReloader({
          file: routesFile,
          initialText,
          apply: (validated) => {
            install(validated, routesFile);
          },
          hosts: () => ctx.table.hosts.length,
          recordReload: (ok) => metrics.recordReload(ok),
          log,
          logPrefix: '[proxy]',
          initialTable: initial,
          // With a TLS listener, certificate files are watched too (renewals replace them in place).
          dependencies: tlsAddress === null ? undefined : certificateFiles,
        });
  const reloadFromFile = (onlyIfChanged: boolean): Promise<ReloadResult> =>
    reloader === null
      ? Promise.reject(new ProxyStateError('reload: this proxy has no routes file'))
      : reloader.reload(onlyIfChanged);

  const { server, fastConnections } = createTrafficServer({
    ctx,
    limits,
    timeouts,
    metrics,
    log,
    fastPath: options.fastPath ?? true,
  });

  // HTTP/2 on the proxy's own frame code (h2-fast.ts), or on node:http2 (h2.ts) with the fast path off.
  const h2: H2Handler | null = h2Settings.enabled
    ? ((options.fastPath ?? true) ? createFastH2Handler : createH2Handler)(
        ctx,
        h2Settings,
        limits.maxHeaderSize,
        timeouts.keepAliveMs,
        (err) => log(`[proxy] internal error (this is a bug): ${(err as Error).stack ?? String(err)}`),
      )
    : null;
  if (tlsAddress !== null) {
    tls = new TlsListener({
      // After the handshake, an HTTP/1.1 connection is the traffic server's like a plain one.
      handOver: (socket: TLSSocket) => server.emit('connection', socket),
      metrics,
      log,
      handshakeTimeoutMs: timeouts.headerMs,
      maxConnections: limits.maxConnections,
      acme,
      sessionResumption: options.tlsSessionResumption ?? true,
    });
    const tlsListener = tls;
    if (acme instanceof AcmeSource) {
      // TLS-ALPN-01: the challenge certificate only for ClientHellos offering acme-tls/1 alone (client-hello.ts).
      const source = acme;
      tls.handlers.acmeAlpnContext = (servername, socket) =>
        offersOnlyAcmeTls(socket) ? source.alpnContext(servername) : undefined;
    }
    metrics.tls.notAfter = () => tlsListener.notAfter();
    // The first table's certificates: a bad one is the caller's mistake, thrown from here like a bad table.
    tls.setCertificates(certificatesOf(initial)!);
    // ALPN offers h2 while this is set (tls/listener.ts).
    if (h2 !== null) tls.handlers.h2 = h2.handle;
  }

  let adminServer: Server | null = null;
  const adminBackend: AdminBackend = {
    metrics: async () => ({
      contentType: metrics.registry.contentType,
      body: await metrics.registry.metrics(),
    }),
    reload: async (): Promise<ReloadOutcome> => {
      try {
        const result =
          routesFile === null
            ? { hosts: ctx.table.hosts.length, source: '(no routes file)' }
            : await reloadFromFile(false);
        return { ok: true, hosts: result.hosts, source: result.source };
      } catch (err) {
        return { ok: false, error: (err as Error).message };
      }
    },
    health: async () => ({
      status: ctx.draining ? 'draining' : 'ok',
      workers: 1,
      hosts: ctx.table.hosts.length,
      inFlight: ctx.inFlight,
      openConnections: metrics.openConnections,
    }),
    routeTable: () => ctx.table.config,
  };
  if (adminAddress !== null) {
    adminServer = createAdminServer(adminBackend, log, {
      listenHost: adminAddress.host,
      allowedHosts: options.adminAllowedHosts ?? [],
    });
  }

  let state: 'new' | 'listening' | 'closing' = 'new';
  let closing: Promise<void> | null = null;

  const listenOn = (target: Server, address: ListenAddress): Promise<ListenAddress> =>
    new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      target.once('error', onError);
      target.listen({ host: address.host, port: address.port }, () => {
        target.off('error', onError);
        // From now on an error (e.g. EMFILE on accept) is logged, not thrown into the event loop.
        target.on('error', (err) => log(`[proxy] listener error: ${err.message}`));
        const bound = target.address() as AddressInfo;
        resolve({ host: bound.address, port: bound.port });
      });
    });

  const closeNow = async (timeoutMs: number): Promise<void> => {
    ctx.draining = true;
    reloader?.close();
    const serverClosed = new Promise<void>((resolve) => {
      if (!server.listening) resolve();
      else server.close(() => resolve());
    });
    // TLS connections are the traffic server's once their handshake is done (closed below like plain ones).
    const tlsClosing = tls?.close() ?? null;
    const closeIdle = () => {
      server.closeIdleConnections();
      for (const conn of fastConnections) if (conn.idle) conn.close();
    };
    closeIdle();
    // HTTP/2: GOAWAY on every session; their open streams finish (counted in ctx.inFlight).
    h2?.close();
    const deadline = Date.now() + timeoutMs;
    // In-flight requests finish; their responses carry `Connection: close` (inbound/node-path.ts), and connections that
    // went idle meanwhile are closed on every turn of this loop.
    while (ctx.inFlight > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      closeIdle();
    }
    const forced = ctx.inFlight > 0;
    server.closeAllConnections();
    for (const conn of fastConnections) conn.socket.destroy();
    for (const socket of ctx.upgradeSockets) socket.destroy();
    h2?.destroy();
    // What is left of the TLS listener's: handshakes in progress (and HTTP/2 sessions, whose owner closes them).
    tlsClosing?.closeAll();
    await serverClosed;
    await tlsClosing?.closed;
    retireRouteTable(ctx.table, null, buildContext);
    await pools.closeAll(forced);
    if (adminServer !== null) {
      const admin = adminServer;
      await new Promise<void>((resolve) => {
        if (!admin.listening) resolve();
        else admin.close(() => resolve());
        admin.closeAllConnections();
      });
    }
    if (acme instanceof AcmeManager) await acme.close();
    await accessLog?.close();
  };

  const proxy: NodixProxy = {
    server,
    adminServer,
    h2,
    get tls() {
      return tls;
    },
    metrics,
    acme,
    get routeTable() {
      return ctx.table;
    },
    async listen() {
      if (state !== 'new') throw new ProxyStateError('listen: the proxy was already started');
      state = 'listening';
      const bound = await listenOn(server, listenAddress);
      let admin: ListenAddress | null = null;
      let tlsBound: ListenAddress | null = null;
      try {
        if (tls !== null && tlsAddress !== null) {
          tlsBound = await listenOn(tls.server as unknown as Server, tlsAddress);
          // Redirects name the port really bound (port 0 picks one).
          ctx.httpsPort = tlsBound.port === 443 ? '' : `:${tlsBound.port}`;
        }
        if (adminServer !== null && adminAddress !== null) admin = await listenOn(adminServer, adminAddress);
      } catch (err) {
        await new Promise((resolve) => server.close(resolve));
        if (tls?.server.listening) await new Promise((resolve) => tls?.server.close(resolve));
        throw err;
      }
      if (watchEnabled) reloader?.watch();
      if (acme instanceof AcmeManager) acme.start();
      return { listen: bound, admin, tls: tlsBound };
    },
    close(closeOptions = {}) {
      if (closing !== null) return closing;
      state = 'closing';
      closing = closeNow(closeOptions.timeoutMs ?? timeouts.shutdownMs);
      return closing;
    },
    reload() {
      return reloadFromFile(false);
    },
    setRouteTable(config: unknown, source = 'setRouteTable()') {
      let result: ReloadResult;
      try {
        result = install(validateRouteTable(config, source, options.routeTableDir), source);
      } catch (err) {
        metrics.recordReload(false);
        if (err instanceof RouteTableError)
          log(`[proxy] route table rejected, the last good one keeps serving: ${err.message}`);
        throw err;
      }
      metrics.recordReload(true);
      return result;
    },
    stats() {
      return {
        inFlight: ctx.inFlight,
        openConnections: metrics.openConnections,
        upgrades: ctx.upgradeSockets.size,
        hosts: ctx.table.hosts.length,
        pools: pools.size,
      };
    },
  };
  return proxy;
}
