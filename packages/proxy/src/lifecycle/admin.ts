/**
 * The admin listener (default 127.0.0.1:9090), separate from the traffic port so that it can stay private:
 *
 *   GET  /metrics      Prometheus text format (with several workers: the sum over all of them)
 *   GET  /healthz      200 {"status":"ok",...}; 503 {"status":"draining"} during a graceful shutdown
 *   POST /reload       re-reads the routes file: 200 {"ok":true,"hosts":N} or 422 {"ok":false,"error":"..."}
 *   GET  /route-table  the route table in use, as JSON
 *
 * Browsers must not be able to use it (issue #10, defect 11). A page on any site can make a browser send requests
 * here, and through DNS rebinding (its own name resolving to 127.0.0.1) even read the answers:
 * - Only requests whose Host names this listener are answered: a loopback name or address, the address the
 *   request came in on, the listen host, or a name in `adminAllowedHosts`. A rebinding page's requests carry its
 *   own name as Host: 421 Misdirected Request.
 * - State-changing endpoints (POST /reload) need a header no cross-site request can carry without a CORS
 *   preflight (which this listener never grants): `X-Nodix-Admin` (any value). And a request whose `Origin` is
 *   not this listener's own or whose `Sec-Fetch-Site` says it comes from another site is refused: 403.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { normaliseHost } from '../route-table/host.js';

export type ReloadOutcome = { ok: true; hosts: number; source: string } | { ok: false; error: string };

/** What GET /healthz answers, the same with one process and with several (workers summed). */
export interface HealthReport {
  status: 'ok' | 'draining';
  /** Processes serving traffic (1 without --workers). */
  workers: number;
  /** Virtual hosts in the route table serving now. */
  hosts: number;
  /** Requests being forwarded now, over all workers. */
  inFlight: number;
  /** Client connections open now, over all workers. */
  openConnections: number;
}

export interface AdminBackend {
  metrics(): Promise<{ contentType: string; body: string }>;
  reload(): Promise<ReloadOutcome>;
  health(): Promise<HealthReport>;
  routeTable(): unknown;
}

export interface AdminGuard {
  /** The host the listener is bound to (a wildcard address allows nothing by itself). */
  listenHost: string;
  /** Further Host names (or addresses) allowed, e.g. the machine's DNS name for a remote Prometheus. */
  allowedHosts: readonly string[];
}

/** The header that marks a request as not sent by a browser on behalf of some page. */
export const ADMIN_REQUEST_HEADER = 'x-nodix-admin';

const LOOPBACK_NAMES = new Set(['localhost', '[::1]']);

/** The Host (normalised, port stripped) is one this listener answers to. */
function hostAllowed(req: IncomingMessage, allowed: ReadonlySet<string>): boolean {
  const raw = req.headers.host;
  if (raw === undefined) return false;
  const host = normaliseHost(raw);
  if (host === null) return false;
  if (allowed.has(host) || LOOPBACK_NAMES.has(host)) return true;
  const address = host.startsWith('[') ? host.slice(1, -1) : host;
  if (isIP(address) === 0) return false;
  // An address literal: loopback, or the address this request came in on (a rebinding page sends a name).
  if (address.startsWith('127.') || address === '::1') return true;
  const local = req.socket.localAddress ?? '';
  return address === local || `::ffff:${address}` === local;
}

/** Why a state-changing request is refused (it could come from a browser on another site), or null. */
function crossSiteReason(req: IncomingMessage): string | null {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none')
    return `Sec-Fetch-Site ${site}: cross-site requests are refused`;
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let sameOrigin = false;
    try {
      sameOrigin = new URL(origin).host === req.headers.host;
    } catch {}
    if (!sameOrigin) return `Origin ${origin}: cross-site requests are refused`;
  }
  if (req.headers[ADMIN_REQUEST_HEADER] === undefined)
    return `state-changing requests need an ${ADMIN_REQUEST_HEADER} header (e.g. curl -X POST -H 'X-Nodix-Admin: 1' URL)`;
  return null;
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = `${JSON.stringify(value)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

const ROUTES: Record<string, string> = {
  '/metrics': 'GET',
  '/healthz': 'GET',
  '/reload': 'POST',
  '/route-table': 'GET',
};

export function createAdminServer(
  backend: AdminBackend,
  log: (line: string) => void,
  guard: AdminGuard,
): Server {
  const allowedHosts = new Set<string>();
  for (const name of [guard.listenHost, ...guard.allowedHosts]) {
    // A wildcard bind address is no name a legitimate client uses (and browsers reach 0.0.0.0 as loopback).
    if (name === '0.0.0.0' || name === '::') continue;
    const host = normaliseHost(isIP(name) === 6 ? `[${name}]` : name);
    if (host !== null) allowedHosts.add(host);
  }
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!hostAllowed(req, allowedHosts)) {
      req.resume();
      return sendJson(res, 421, {
        error: `Host ${JSON.stringify(req.headers.host ?? '')} is not this admin listener's (allowed: loopback, its own address, adminAllowedHosts)`,
      });
    }
    const path = (req.url ?? '/').split('?')[0]!;
    const allowed = ROUTES[path];
    if (allowed === undefined) return sendJson(res, 404, { error: `no such admin endpoint: ${path}` });
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    if (method !== allowed) {
      res.setHeader('allow', allowed);
      return sendJson(res, 405, { error: `${path} accepts ${allowed} only` });
    }
    // Request bodies are not used; read and discard them so the connection stays usable.
    req.resume();
    if (method === 'POST') {
      const reason = crossSiteReason(req);
      if (reason !== null) return sendJson(res, 403, { error: reason });
    }
    switch (path) {
      case '/metrics': {
        const { contentType, body } = await backend.metrics();
        res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      case '/healthz': {
        const health = await backend.health();
        return sendJson(res, health.status === 'ok' ? 200 : 503, health);
      }
      case '/reload': {
        const outcome = await backend.reload();
        return sendJson(res, outcome.ok ? 200 : 422, outcome);
      }
      default:
        return sendJson(res, 200, backend.routeTable());
    }
  };
  return createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log(`[proxy] admin ${req.method} ${req.url} failed: ${(err as Error).stack ?? String(err)}`);
      if (!res.headersSent) sendJson(res, 500, { error: (err as Error).message });
      else res.destroy();
    });
  });
}
