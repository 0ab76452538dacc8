import { Agent as HttpAgent, request } from 'node:http';
import type {
  ActivateRequest,
  ActivateResponse,
  CollectGarbageRequest,
  CollectGarbageResponse,
  DeactivateResponse,
  ErrorBody,
  FactsResponse,
  HealthResponse,
  LockResponse,
  ServicesResponse,
} from '../agent/api.js';
import { AgentError, LockedError } from '../agent/errors.js';
import { formatHostPort } from '../agent/readiness.js';
import type { AgentAddress, ServiceInstance } from '../plan/types.js';

/** Time to wait for an agent's answer on top of what the call itself may take (a readiness timeout). */
const ANSWER_MARGIN_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5_000;

export interface AgentClientOptions {
  target: string;
  address: AgentAddress;
  token: string | undefined;
}

/**
 * The coordinator's side of the agent API for one target. Answers become values; failures become AgentError (with
 * the agent's own code when it sent one) or LockedError (409, naming the holder), each message starting with the
 * target so that a failure in a parallel deploy says where it happened.
 */
export class AgentClient {
  readonly target: string;
  readonly address: AgentAddress;
  readonly #token: string | undefined;
  readonly #pool = new HttpAgent({ keepAlive: true, maxSockets: 16 });

  constructor(options: AgentClientOptions) {
    this.target = options.target;
    this.address = options.address;
    this.#token = options.token;
  }

  get where(): string {
    return formatHostPort(this.address.host, this.address.port);
  }

  close(): void {
    this.#pool.destroy();
  }

  health(): Promise<HealthResponse> {
    return this.#call('GET', '/v1/health', undefined, 10_000);
  }

  services(): Promise<ServicesResponse> {
    return this.#call('GET', '/v1/services', undefined, 10_000);
  }

  /** The machine's facts; `timeoutMs` bounds the whole call (a probe must not wait for the connect timeout). */
  facts(timeoutMs = 10_000): Promise<FactsResponse> {
    return this.#call('GET', '/v1/facts', undefined, timeoutMs);
  }

  lock(owner: string, ttlMs: number): Promise<LockResponse> {
    return this.#call('POST', '/v1/lock', { owner, ttlMs }, 10_000);
  }

  unlock(owner: string): Promise<LockResponse> {
    return this.#call('POST', '/v1/unlock', { owner }, 10_000);
  }

  activate(
    service: ServiceInstance,
    owner: string | undefined,
    timeoutMs?: number,
  ): Promise<ActivateResponse> {
    const body: ActivateRequest = {
      service,
      ...(owner === undefined ? {} : { owner }),
      ...(timeoutMs ? { timeoutMs } : {}),
    };
    return this.#call('POST', '/v1/activate', body, (timeoutMs ?? 10_000) + ANSWER_MARGIN_MS);
  }

  deactivate(name: string, owner: string | undefined): Promise<DeactivateResponse> {
    return this.#call(
      'POST',
      '/v1/deactivate',
      { name, ...(owner === undefined ? {} : { owner }) },
      ANSWER_MARGIN_MS,
    );
  }

  /** Deletes what the agent keeps of services it does not run and `keep` does not name. */
  collectGarbage(keep: string[], dryRun: boolean): Promise<CollectGarbageResponse> {
    const body: CollectGarbageRequest = { keep, ...(dryRun ? { dryRun } : {}) };
    return this.#call('POST', '/v1/collect-garbage', body, ANSWER_MARGIN_MS);
  }

  #call<T>(method: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const prefix = `target ${this.target}`;
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          host: this.address.host.replace(/^\[(.*)\]$/, '$1'),
          port: this.address.port,
          method,
          path,
          agent: this.#pool,
          headers: {
            ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}),
            ...(payload
              ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            clearTimeout(timer);
            const status = res.statusCode ?? 0;
            let parsed: unknown;
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              parsed = undefined;
            }
            if (status === 200 && parsed !== undefined) return resolve(parsed as T);
            const error = (parsed as ErrorBody | undefined)?.error;
            if (status === 401) {
              return reject(
                new AgentError(
                  this.target,
                  this.#token
                    ? `${prefix}: the agent at ${this.where} refused the token (401)`
                    : `${prefix}: the agent at ${this.where} requires a token (401): give --token-file or NODIX_AGENT_TOKEN`,
                  {
                    code: 'NODIX_ERR_AGENT_UNAUTHORIZED',
                    status,
                  },
                ),
              );
            }
            if (status === 409 && error?.holder) {
              return reject(new LockedError(`${prefix}: ${error.message}`, error.holder));
            }
            reject(
              new AgentError(
                this.target,
                `${prefix}: ${error?.message ?? `unexpected answer HTTP ${status} to ${method} ${path}`}`,
                {
                  code: error?.code ?? 'NODIX_ERR_AGENT_PROTOCOL',
                  status,
                },
              ),
            );
          });
        },
      );
      // Connecting and answering have separate limits: an unreachable agent is reported fast, a slow activation is not cut.
      const connectTimer = setTimeout(
        () => req.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })),
        CONNECT_TIMEOUT_MS,
      );
      req.on('socket', (socket) => {
        if (!socket.connecting) clearTimeout(connectTimer);
        else socket.once('connect', () => clearTimeout(connectTimer));
      });
      const timer = setTimeout(
        () =>
          req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
        timeoutMs,
      );
      req.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        clearTimeout(connectTimer);
        reject(
          new AgentError(
            this.target,
            `${prefix}: agent at ${this.where} unreachable (${error.code ?? error.message})`,
            {
              code: 'NODIX_ERR_AGENT_UNREACHABLE',
              cause: error,
            },
          ),
        );
      });
      req.end(payload);
    });
  }
}
