/**
 * The admin listener (default 127.0.0.1:9090), separate from the traffic port so that it can stay private:
 *
 *   GET  /metrics      Prometheus text format (with several workers: the sum over all of them)
 *   GET  /healthz      200 {"status":"ok",...}; 503 {"status":"draining"} during a graceful shutdown
 *   POST /reload       re-reads the routes file: 200 {"ok":true,"hosts":N} or 422 {"ok":false,"error":"..."}
 *   GET  /route-table  the route table in use, as JSON
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export type ReloadOutcome = { ok: true; hosts: number; source: string } | { ok: false; error: string };

export interface AdminBackend {
  metrics(): Promise<{ contentType: string; body: string }>;
  reload(): Promise<ReloadOutcome>;
  health(): { status: 'ok' | 'draining'; [key: string]: unknown };
  routeTable(): unknown;
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

export function createAdminServer(backend: AdminBackend, log: (line: string) => void): Server {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
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
    switch (path) {
      case '/metrics': {
        const { contentType, body } = await backend.metrics();
        res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      case '/healthz': {
        const health = backend.health();
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
