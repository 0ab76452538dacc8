import { rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NodixError } from '../errors.js';
import type { ServiceInstance } from '../plan/types.js';
import { VERSION as version } from '../version.js';
import { activationModules } from './activation/index.js';
import type {
  ActivateRequest,
  ActivateResponse,
  CollectGarbageRequest,
  CollectGarbageResponse,
  DeactivateRequest,
  DeactivateResponse,
  ErrorBody,
  FactsResponse,
  HealthResponse,
  LockRequest,
  LockResponse,
  ServicesResponse,
  UnlockRequest,
} from './api.js';
import { AgentConfigError, BadRequestError, LockedError } from './errors.js';
import { captureFacts } from './facts.js';
import { acquireLock, checkMayChange, MAX_LOCK_TTL_MS, releaseLock } from './lock.js';
import { formatHostPort } from './readiness.js';
import { prepareSocketPath, restrictSocket } from './socket.js';
import { StateStore } from './state.js';
import { lockStateDir, makeStateDir } from './state-dir.js';
import { Supervisor, type SupervisorOptions } from './supervisor.js';
import { bearerToken, tokensEqual } from './token.js';
import {
  checkPositiveInteger,
  checkServiceInstance,
  checkServiceName,
  checkString,
  isRecord,
} from './validate.js';

export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
const MAX_OWNER_LENGTH = 256;
const MAX_READY_TIMEOUT_MS = 10 * 60 * 1000;

export interface AgentOptions {
  host: string;
  port: number;
  /**
   * Listen on this Unix socket instead of `host:port`: mode 0600 in a 0700 directory, no token (the socket's
   * permissions authorise; coordinators come in through SSH and `nodix agent connect`).
   */
  socket?: string;
  stateDir: string;
  /** Required unless `insecure` and `host` is a loopback address. */
  token?: string;
  insecure?: boolean;
  /** Listen address for services whose config names none; default 0.0.0.0. */
  serviceHost?: string;
  maxBodyBytes?: number;
  log?: (line: string) => void;
  /** Supervisor tuning (backoff, timeouts), mostly for tests. */
  supervisor?: Partial<Omit<SupervisorOptions, 'store' | 'modules' | 'defaultHost' | 'log'>>;
}

export interface Agent {
  /** `http://host:port`, or `unix:PATH` for a socket agent */
  readonly url: string;
  readonly port: number;
  readonly supervisor: Supervisor;
  /** Stops the API and the supervision; services keep running. */
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  extra: object = {},
): void {
  const body: ErrorBody = { error: { code, message, ...extra } };
  sendJson(res, status, body, status === 401 ? { 'www-authenticate': 'Bearer realm="nodix-agent"' } : {});
}

/** Reads a JSON object body of at most `limit` bytes. */
async function readJsonBody(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    throw new BadRequestError(`request body of ${declared} bytes exceeds the limit of ${limit} bytes`, 413);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BadRequestError(`request body exceeds the limit of ${limit} bytes`, 413);
    chunks.push(chunk as Buffer);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    throw new BadRequestError(`request body is not JSON: ${(error as Error).message}`);
  }
  if (!isRecord(value)) throw new BadRequestError('request body must be a JSON object');
  return value;
}

function check(problem: string | undefined): void {
  if (problem) throw new BadRequestError(problem);
}

function checkOwner(value: unknown, { required }: { required: boolean }): string | undefined {
  if (value === undefined && !required) return undefined;
  check(checkString(value, 'owner'));
  if ((value as string).length > MAX_OWNER_LENGTH)
    throw new BadRequestError(`owner: longer than ${MAX_OWNER_LENGTH}`);
  return value as string;
}

/**
 * Starts an agent: reads its state (a corrupt one stops it here), adopts the services still running, and serves
 * the API. Every request is authenticated before anything else is looked at; a request without the token changes
 * nothing and learns nothing but 401.
 */
export async function createAgent(options: AgentOptions): Promise<Agent> {
  const log = options.log ?? ((line: string) => process.stdout.write(`[agent] ${line}\n`));
  const socketPath = options.socket;
  if (socketPath === undefined && (options.token === undefined || options.token === '')) {
    if (!options.insecure) {
      throw new AgentConfigError(
        'agent: no token (give --token-file or NODIX_AGENT_TOKEN, or --insecure on loopback)',
      );
    }
    if (!isLoopback(options.host)) {
      throw new AgentConfigError(
        `agent: --insecure is only allowed on a loopback address, not ${options.host}`,
      );
    }
  }
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  await makeStateDir(options.stateDir);
  // Before the state is read: a second agent on the same directory would adopt and restart the same services.
  const listenName =
    socketPath === undefined ? formatHostPort(options.host, options.port) : `unix:${socketPath}`;
  const dirLock = await lockStateDir(options.stateDir, listenName);
  let store: StateStore;
  let supervisor: Supervisor;
  try {
    store = await StateStore.open(options.stateDir);
    supervisor = new Supervisor({
      ...options.supervisor,
      store,
      modules: activationModules,
      defaultHost: options.serviceHost ?? '0.0.0.0',
      log,
    });
    await supervisor.start();
  } catch (error) {
    await dirLock.release();
    throw error;
  }
  const startedAt = Date.now();
  const token = socketPath === undefined ? options.token : undefined;

  function checkService(value: unknown): ServiceInstance {
    check(checkServiceInstance(value, 'service'));
    const instance = value as ServiceInstance;
    instance.dependsOn ??= [];
    instance.connectsTo ??= [];
    const module = activationModules.get(instance.type);
    if (!module) {
      throw new BadRequestError(
        `service.type: unknown type '${instance.type}' (known: ${[...activationModules.keys()].join(', ')})`,
      );
    }
    check(module.check(instance));
    return instance;
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const method = req.method ?? 'GET';
    const routes: Record<string, string> = {
      '/v1/health': 'GET',
      '/v1/services': 'GET',
      '/v1/facts': 'GET',
      '/v1/lock': 'POST',
      '/v1/unlock': 'POST',
      '/v1/activate': 'POST',
      '/v1/deactivate': 'POST',
      '/v1/collect-garbage': 'POST',
    };
    const allowed = path === undefined ? undefined : routes[path];
    if (allowed === undefined) return sendError(res, 404, 'NODIX_ERR_NOT_FOUND', `no such endpoint: ${path}`);
    if (allowed !== method) {
      res.setHeader('allow', allowed);
      return sendError(res, 405, 'NODIX_ERR_METHOD', `${path} takes ${allowed}, not ${method}`);
    }
    const state = store.state;
    switch (path) {
      case '/v1/health': {
        const body: HealthResponse = {
          status: 'ok',
          pid: process.pid,
          version,
          uptimeMs: Date.now() - startedAt,
          services: Object.keys(state.services).length,
        };
        return sendJson(res, 200, body);
      }
      case '/v1/services': {
        const body: ServicesResponse = { services: supervisor.list(), lock: state.lock };
        return sendJson(res, 200, body);
      }
      case '/v1/facts':
        return sendJson(res, 200, captureFacts(version) satisfies FactsResponse);
      case '/v1/lock': {
        const body = (await readJsonBody(req, maxBodyBytes)) as Partial<LockRequest>;
        const owner = checkOwner(body.owner, { required: true }) as string;
        check(checkPositiveInteger(body.ttlMs, 'ttlMs', MAX_LOCK_TTL_MS));
        const renewed = state.lock?.owner === owner;
        state.lock = acquireLock(state.lock, owner, body.ttlMs as number, Date.now());
        await store.save();
        if (!renewed) log(`locked by ${owner}`);
        return sendJson(res, 200, { lock: state.lock } satisfies LockResponse);
      }
      case '/v1/unlock': {
        const body = (await readJsonBody(req, maxBodyBytes)) as Partial<UnlockRequest>;
        const owner = checkOwner(body.owner, { required: true }) as string;
        const had = state.lock !== null;
        state.lock = releaseLock(state.lock, owner, Date.now());
        await store.save();
        if (had) log(`unlocked by ${owner}`);
        return sendJson(res, 200, { lock: null } satisfies LockResponse);
      }
      case '/v1/activate': {
        const body = (await readJsonBody(req, maxBodyBytes)) as Partial<ActivateRequest>;
        const owner = checkOwner(body.owner, { required: false });
        const service = checkService(body.service);
        if (body.timeoutMs !== undefined)
          check(checkPositiveInteger(body.timeoutMs, 'timeoutMs', MAX_READY_TIMEOUT_MS));
        checkMayChange(state.lock, owner, Date.now());
        const { action, status } = await supervisor.activate(service, body.timeoutMs);
        return sendJson(res, 200, { action, service: status } satisfies ActivateResponse);
      }
      case '/v1/deactivate': {
        const body = (await readJsonBody(req, maxBodyBytes)) as Partial<DeactivateRequest>;
        const owner = checkOwner(body.owner, { required: false });
        check(checkServiceName(body.name, 'name'));
        checkMayChange(state.lock, owner, Date.now());
        const stopped = await supervisor.deactivate(body.name as string);
        return sendJson(res, 200, { action: stopped ? 'stopped' : 'absent' } satisfies DeactivateResponse);
      }
      case '/v1/collect-garbage': {
        const body = (await readJsonBody(req, maxBodyBytes)) as Partial<CollectGarbageRequest>;
        const owner = checkOwner(body.owner, { required: false });
        if (!Array.isArray(body.keep)) throw new BadRequestError('keep: must be an array of service names');
        for (const [i, name] of body.keep.entries()) check(checkServiceName(name, `keep[${i}]`));
        if (body.dryRun !== undefined && typeof body.dryRun !== 'boolean')
          throw new BadRequestError('dryRun: must be a boolean');
        if (!body.dryRun) checkMayChange(state.lock, owner, Date.now());
        const removed = await supervisor.collectGarbage(new Set(body.keep), body.dryRun ?? false);
        return sendJson(res, 200, { removed } satisfies CollectGarbageResponse);
      }
    }
  }

  const server: Server = createServer((req, res) => {
    if (token !== undefined && token !== '') {
      const presented = bearerToken(req.headers.authorization);
      if (presented === undefined || !tokensEqual(presented, token)) {
        // The body is never read: close the connection instead of draining what an unknown client sends.
        res.setHeader('connection', 'close');
        sendError(res, 401, 'NODIX_ERR_UNAUTHORIZED', 'missing or wrong bearer token');
        req.resume();
        return;
      }
    }
    route(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof BadRequestError) {
        res.setHeader('connection', 'close');
        return sendError(res, error.status, error.code, error.message);
      }
      if (error instanceof LockedError) {
        return sendError(res, 409, error.code, error.message, { holder: error.holder });
      }
      if (error instanceof NodixError) return sendError(res, 500, error.code, error.message);
      log(`internal error: ${(error as Error).stack ?? error}`);
      sendError(res, 500, 'NODIX_ERR_INTERNAL', `internal error: ${(error as Error).message}`);
    });
  });
  // Activations wait for readiness and may take their whole timeout: do not let Node cut them off.
  server.requestTimeout = MAX_READY_TIMEOUT_MS + 60_000;
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const listening = () => {
      server.off('error', reject);
      resolve();
    };
    if (socketPath === undefined) {
      server.listen({ host: options.host.replace(/^\[(.*)\]$/, '$1'), port: options.port }, listening);
      return;
    }
    prepareSocketPath(socketPath).then(() => {
      // Made 0600 from the start (umask), so there is no moment at which another user could open it.
      const umask = process.umask(0o177);
      try {
        server.listen({ path: socketPath }, listening);
      } finally {
        process.umask(umask);
      }
    }, reject);
  }).catch(async (error: NodeJS.ErrnoException) => {
    await supervisor.close();
    await dirLock.release();
    if (error instanceof NodixError) throw error;
    if (error.code === 'EADDRINUSE' || error.code === 'EADDRNOTAVAIL' || error.code === 'EACCES') {
      throw new AgentConfigError(`agent: cannot listen on ${listenName}: ${error.code}`);
    }
    throw error;
  });
  let url: string;
  let port = 0;
  if (socketPath === undefined) {
    const address = server.address() as AddressInfo;
    port = address.port;
    url = `http://${formatHostPort(address.address, address.port)}`;
    await dirLock.setListen(formatHostPort(address.address, address.port));
  } else {
    await restrictSocket(socketPath);
    url = listenName;
  }
  return {
    url,
    port,
    supervisor,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await supervisor.close();
      if (socketPath !== undefined) await rm(socketPath, { force: true });
      await dirLock.release();
    },
  };
}
