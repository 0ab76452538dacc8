/**
 * Every failure nodix expects is a `NodixError` with a stable `code` (`NODIX_ERR_*`, for tests and scripts) and the
 * exit code the CLI returns for it: 2 when the user has to change something (arguments, models), 1 when something
 * failed at run time. Anything that is not a NodixError reaching the CLI's top-level catch is a bug.
 */
export interface NodixErrorOptions {
  code: string;
  exitCode?: 1 | 2;
  cause?: unknown;
}

export class NodixError extends Error {
  readonly code: string;
  readonly exitCode: 1 | 2;

  constructor(message: string, options: NodixErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** Bad command line: unknown command or option, missing or malformed argument. */
export class UsageError extends NodixError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { code: 'NODIX_ERR_USAGE', exitCode: 2, cause: options.cause });
  }
}

/**
 * A model (services, infrastructure, distribution, qos, ports) that cannot be loaded or is wrong. The message names
 * the file, the key inside it and what is wrong, so the user can go straight to the line to fix.
 */
export class ModelError extends NodixError {
  readonly file: string;
  readonly key: string | undefined;

  constructor(
    file: string,
    key: string | undefined,
    problem: string,
    options: { code?: string; cause?: unknown } = {},
  ) {
    super(key === undefined ? `${file}: ${problem}` : `${file}: ${key}: ${problem}`, {
      code: options.code ?? 'NODIX_ERR_MODEL',
      exitCode: 2,
      cause: options.cause,
    });
    this.file = file;
    this.key = key;
  }
}

/** A model file that does not exist, does not parse, or whose function throws. */
export class ModelLoadError extends ModelError {
  constructor(file: string, problem: string, options: { cause?: unknown } = {}) {
    super(file, undefined, problem, { code: 'NODIX_ERR_MODEL_LOAD', cause: options.cause });
  }
}

/** `dependsOn` forms a cycle; `cycle` lists the services, the first repeated at the end. */
export class DependencyCycleError extends ModelError {
  readonly cycle: string[];

  constructor(file: string, cycle: string[]) {
    super(file, `${cycle[0]}.dependsOn`, `dependency cycle: ${cycle.join(' -> ')}`, {
      code: 'NODIX_ERR_DEPENDENCY_CYCLE',
    });
    this.cycle = cycle;
  }
}

/** gendist's divide filter found no candidate target with enough capacity left for a service. */
export class NoRoomError extends NodixError {
  readonly service: string;

  constructor(message: string, service: string) {
    super(message, { code: 'NODIX_ERR_NO_ROOM', exitCode: 2 });
    this.service = service;
  }
}

/** port-assign found no free port left in a pool. */
export class PortPoolExhaustedError extends NodixError {
  readonly pool: string;

  constructor(message: string, pool: string) {
    super(message, { code: 'NODIX_ERR_PORT_POOL_EXHAUSTED', exitCode: 2 });
    this.pool = pool;
  }
}

/** An input or output file could not be read or written (permissions, disk full, ...). */
export class FileError extends NodixError {
  readonly path: string;

  constructor(path: string, problem: string, options: { exitCode?: 1 | 2; cause?: unknown } = {}) {
    super(`${path}: ${problem}`, {
      code: 'NODIX_ERR_FILE',
      exitCode: options.exitCode ?? 1,
      cause: options.cause,
    });
    this.path = path;
  }
}
