import type { ServiceInstance } from '../plan/types.js';
import type { LockHolder } from './errors.js';
import type { ActivateAction, GarbageReport, ServiceStatus } from './supervisor.js';

/**
 * The agent's HTTP/JSON API, version 1. Every request carries `Authorization: Bearer <token>`. Errors answer
 * `{ "error": { "code": "NODIX_ERR_*", "message": "...", "holder"?: LockHolder } }` with 400, 401, 404, 405, 409,
 * 413 or 500.
 *
 *   GET  /v1/health                                   → HealthResponse
 *   GET  /v1/services                                 → ServicesResponse
 *   GET  /v1/facts                                    → FactsResponse       (what `nodix capture-infra` reads)
 *   POST /v1/lock        LockRequest                  → LockResponse        (409 when someone else holds it)
 *   POST /v1/unlock      UnlockRequest                → LockResponse
 *   POST /v1/activate    ActivateRequest              → ActivateResponse    (409 when locked by someone else)
 *   POST /v1/deactivate  DeactivateRequest            → DeactivateResponse  (409 when locked by someone else)
 *   POST /v1/collect-garbage CollectGarbageRequest     → CollectGarbageResponse (409 when locked by someone else)
 */
export const API_PREFIX = '/v1';

export interface HealthResponse {
  status: 'ok';
  pid: number;
  version: string;
  uptimeMs: number;
  services: number;
}

/** The machine the agent runs on, as `node:os` sees it. */
export interface FactsResponse {
  hostname: string;
  cpus: number;
  memoryBytes: number;
  freeMemoryBytes: number;
  platform: string;
  arch: string;
  /** `process.version` of the agent, e.g. `v22.11.0`. */
  node: string;
  /** The agent's nodix version. */
  nodix: string;
  systemUptimeSeconds: number;
}

export interface ServicesResponse {
  services: ServiceStatus[];
  lock: LockHolder | null;
}

export interface LockRequest {
  owner: string;
  ttlMs: number;
}

export interface UnlockRequest {
  owner: string;
}

export interface LockResponse {
  lock: LockHolder | null;
}

export interface ActivateRequest {
  /** The lock owner making the change; may be absent when nobody holds the lock. */
  owner?: string;
  service: ServiceInstance;
  /** How long the service may take to become ready. */
  timeoutMs?: number;
}

export interface ActivateResponse {
  action: ActivateAction;
  service: ServiceStatus;
}

export interface DeactivateRequest {
  owner?: string;
  name: string;
}

export interface DeactivateResponse {
  action: 'stopped' | 'absent';
}

export interface CollectGarbageRequest {
  owner?: string;
  /** Services whose directory and log stay although the agent does not run them (kept generations use them). */
  keep: string[];
  /** Only report what would be deleted. */
  dryRun?: boolean;
}

/** Service names whose directory, and whose log, were deleted (or would be). */
export interface CollectGarbageResponse {
  removed: GarbageReport;
}

export interface ErrorBody {
  error: { code: string; message: string; holder?: LockHolder };
}
