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
import { NodixError } from '../errors.js';
import { type AgentAddress, isSshAddress, type ServiceInstance } from '../plan/types.js';
import { DEFAULT_SSH_SETTINGS, SshConnection, SshHttpAgent, type SshSettings } from './ssh.js';

/** Time to wait for an agent's answer on top of what the call itself may take (a readiness timeout). */
const ANSWER_MARGIN_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5_000;

export interface AgentClientOptions {
  target: string;
  address: AgentAddress;
  /** The bearer token of `http` agents (never sent over SSH). */
  token: string | undefined;
  /** How to run ssh for `ssh` targets. */
  ssh?: SshSettings;
}

/** Where an agent is, as messages name it: `host:port`, or `ssh user@host` for a target reached over SSH. */
export function describeAgentAddress(address: AgentAddress): string {
  return isSshAddress(address) ? `ssh ${address.sshTarget}` : formatHostPort(address.host, address.port);
}

/**
 * The coordinator's side of the agent API for one target, over either client interface: every call is an HTTP/1.1
 * exchange on a connection from the pool, a TCP socket to the agent's port (`http`) or an SSH session relayed to its
 * Unix socket (`ssh`, see ssh.ts). Endpoints are written once, in `#call`'s terms, and work over both. Answers become values; failures become AgentError (with
 * the agent's own code when it sent one) or LockedError (409, naming the holder), each message starting with the
 * target so that a failure in a parallel deploy says where it happened.
 */
export class AgentClient {
  readonly target: string;
  readonly address: AgentAddress;
  readonly #token: string | undefined;
  readonly #pool: HttpAgent;
  readonly #ssh: SshConnection | undefined;
  /** Host and port node:http is given: the agent's for `http`; a placeholder for SSH sessions, which ignore them. */
  readonly #host: string;
  readonly #port: number;

  constructor(options: AgentClientOptions) {
    this.target = options.target;
    this.address = options.address;
    if (isSshAddress(options.address)) {
      this.#token = undefined;
      this.#ssh = new SshConnection(options.address, options.ssh ?? DEFAULT_SSH_SETTINGS);
      this.#pool = new SshHttpAgent(this.#ssh);
      this.#host = 'nodix-agent';
      this.#port = 80;
    } else {
      this.#token = options.token;
      this.#pool = new HttpAgent({ keepAlive: true, maxSockets: 16 });
      this.#host = options.address.host.replace(/^\[(.*)\]$/, '$1');
      this.#port = options.address.port;
    }
  }

  get where(): string {
    return describeAgentAddress(this.address);
  }

  /** Ends the connections, and for SSH the master connection (`ssh -O exit`). */
  async close(): Promise<void> {
    this.#pool.destroy();
    await this.#ssh?.close();
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

  /**
   * One exchange. Over SSH the target is reached first (master, probe, forward: `SshConnection.ready`), so the
   * exchange's time limits start once there is something to talk to, however long the SSH login took.
   */
  async #call<T>(method: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
    if (this.#ssh === undefined) return this.#exchange(method, path, body, timeoutMs);
    try {
      await this.#ssh.ready();
      return await this.#exchange<T>(method, path, body, timeoutMs);
    } catch (error) {
      if (!(error instanceof AgentError)) throw error instanceof NodixError ? this.#sshError(error) : error;
      if (error.code !== 'NODIX_ERR_AGENT_UNREACHABLE') throw error;
      // A forwarded connection that broke says nothing of why: the SSH layer can tell a lost connection or a
      // stopped agent apart.
      const known = await this.#ssh.diagnose();
      throw known === undefined ? error : this.#sshError(known);
    }
  }

  /** An error of the SSH layer (host key, login, network, nodix or the agent missing) as this target's failure. */
  #sshError(error: NodixError): AgentError {
    return new AgentError(this.target, `target ${this.target}: ${error.message}`, {
      code: error.code,
      cause: error,
    });
  }

  #exchange<T>(method: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const prefix = `target ${this.target}`;
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          host: this.#host,
          port: this.#port,
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
      // Connecting and answering have separate limits: an unreachable agent is reported fast, a slow activation is not
      // cut. (ssh has its own ConnectTimeout, and says why it could not connect.)
      const connectTimer =
        this.#ssh === undefined
          ? setTimeout(
              () => req.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })),
              CONNECT_TIMEOUT_MS,
            )
          : undefined;
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
        // The SSH layer knows what went wrong (host key, login, network, nodix or the agent missing).
        if (error instanceof NodixError) return reject(this.#sshError(error));
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
