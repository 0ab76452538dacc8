import { NodixError } from '../errors.js';

/**
 * Errors of the agent and of the coordinator talking to it. Each has a stable code; the agent's HTTP API carries the
 * code in its error bodies (`{ "error": { "code", "message" } }`) so the coordinator can rebuild the same error.
 */

/** The agent's state file exists but cannot be read back: reported, never silently reset. */
export class StateCorruptError extends NodixError {
  readonly path: string;
  constructor(path: string, problem: string, options: { cause?: unknown } = {}) {
    super(
      `state file ${path} is corrupt (${problem}); move it aside to start with an empty state (services it lists may still be running)`,
      { code: 'NODIX_ERR_STATE_CORRUPT', exitCode: 1, cause: options.cause },
    );
    this.path = path;
  }
}

/** A request the agent refuses because of what it carries (HTTP 400) or its size (HTTP 413). */
export class BadRequestError extends NodixError {
  readonly status: 400 | 413;
  constructor(message: string, status: 400 | 413 = 400) {
    super(message, {
      code: status === 413 ? 'NODIX_ERR_BODY_TOO_LARGE' : 'NODIX_ERR_BAD_REQUEST',
      exitCode: 1,
    });
    this.status = status;
  }
}

export interface LockHolder {
  owner: string;
  acquiredAt: number;
  expiresAt: number;
}

/** The target is locked by someone else (HTTP 409). */
export class LockedError extends NodixError {
  readonly holder: LockHolder;
  constructor(message: string, holder: LockHolder) {
    super(message, { code: 'NODIX_ERR_LOCKED', exitCode: 1 });
    this.holder = holder;
  }
}

/** A service could not be started, became not ready in time, or could not be stopped. */
export class ActivationError extends NodixError {
  readonly service: string;
  constructor(service: string, message: string, options: { cause?: unknown } = {}) {
    super(message, { code: 'NODIX_ERR_ACTIVATION', exitCode: 1, cause: options.cause });
    this.service = service;
  }
}

/** The agent did not answer, answered 401, or answered something unexpected. */
export class AgentError extends NodixError {
  readonly target: string;
  readonly status: number | undefined;
  constructor(target: string, message: string, options: { code: string; status?: number; cause?: unknown }) {
    super(message, { code: options.code, exitCode: 1, cause: options.cause });
    this.target = target;
    this.status = options.status;
  }
}

/** A usage error of the agent's configuration that is found only at start (no token, insecure on a public address). */
export class AgentConfigError extends NodixError {
  constructor(message: string) {
    super(message, { code: 'NODIX_ERR_AGENT_CONFIG', exitCode: 2 });
  }
}
