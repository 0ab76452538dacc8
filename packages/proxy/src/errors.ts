/**
 * Every error the proxy raises on purpose is one of these classes, with a stable `code` that callers and tests
 * match on (the message may be reworded, the code may not).
 */
export class NodixProxyError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A bad static setting (flag, environment variable or config file). The CLI prints the message and exits 2. */
export class ProxyConfigError extends NodixProxyError {
  readonly exitCode = 2;
  constructor(message: string) {
    super('NODIX_ERR_PROXY_CONFIG', message);
  }
}

/**
 * A route table that cannot be used. `file` is where it came from (a path, or a label such as `setRouteTable()`),
 * `key` is the JSON path of the offending value (`hosts["a.local"].upstreams[0]`, empty for the whole document).
 */
export class RouteTableError extends NodixProxyError {
  readonly exitCode = 2;
  readonly file: string;
  readonly key: string;
  readonly reason: string;
  constructor(file: string, key: string, reason: string) {
    super('NODIX_ERR_ROUTE_TABLE', `${file}: ${key === '' ? '' : `${key}: `}${reason}`);
    this.file = file;
    this.key = key;
    this.reason = reason;
  }
}

/** Every upstream of the chosen virtual host (or path route) is marked down: answered with 503. */
export class NoHealthyUpstreamError extends NodixProxyError {
  constructor(host: string) {
    super('NODIX_ERR_NO_HEALTHY_UPSTREAM', `no healthy upstream for ${host}`);
  }
}

/** The proxy was asked to do something in the wrong state (listen twice, reload without a routes file, ...). */
export class ProxyStateError extends NodixProxyError {
  constructor(message: string) {
    super('NODIX_ERR_PROXY_STATE', message);
  }
}

/** What an upstream exchange is aborted with when the client went away; allocated once, never shown to anybody. */
export class ClientGoneError extends NodixProxyError {
  constructor() {
    super('NODIX_ERR_CLIENT_GONE', 'client closed the connection');
  }
}
export const CLIENT_GONE = new ClientGoneError();

/**
 * An upstream exchange failed. Each subclass is one kind of failure with its stable code (like undici's
 * UND_ERR_*); which status a client gets for it is decided in ONE table keyed by these classes
 * (http/error-pages.ts `statusForError`), so renaming a code can never turn a 504 into a 502.
 */
export class UpstreamFailure extends NodixProxyError {}

/** The upstream did not complete the WebSocket/Upgrade handshake in time: answered with 504. */
export class UpgradeTimeoutError extends UpstreamFailure {
  constructor(ms: number) {
    super('NODIX_ERR_UPGRADE_TIMEOUT', `upstream did not answer the upgrade within ${ms} ms`);
  }
}

/** The TCP/TLS connection could not be made (refused, unreachable, name not found): nothing reached it. */
export class UpstreamConnectError extends UpstreamFailure {
  /** The system's code for it (ECONNREFUSED, EHOSTUNREACH, ENOTFOUND, ...). */
  readonly errno: string;
  constructor(errno: string, message: string) {
    super('NODIX_ERR_CONNECT', message);
    this.errno = errno;
  }
}

/** No connection within the connect timeout. */
export class UpstreamConnectTimeoutError extends UpstreamFailure {
  constructor(ms: number) {
    super('NODIX_ERR_CONNECT_TIMEOUT', `no connection within ${ms} ms`);
  }
}

/** The request was sent, and no response head came within the upstream headers timeout. */
export class UpstreamHeadersTimeoutError extends UpstreamFailure {
  constructor(ms: number) {
    super('NODIX_ERR_HEADERS_TIMEOUT', `no response head within ${ms} ms`);
  }
}

/** The response body stalled longer than the upstream body timeout. */
export class UpstreamBodyTimeoutError extends UpstreamFailure {
  constructor(ms: number) {
    super('NODIX_ERR_BODY_TIMEOUT', `the response body stalled for ${ms} ms`);
  }
}

/**
 * A connected socket closed or was reset before the response was complete (what a keep-alive socket the
 * upstream just closed looks like; `errno` ECONNRESET/EPIPE when the system reported it, else empty).
 */
export class UpstreamClosedError extends UpstreamFailure {
  readonly errno: string;
  constructor(message: string, errno = '') {
    super('NODIX_ERR_UPSTREAM_CLOSED', message);
    this.errno = errno;
  }
}

/** Any other socket error (a TLS failure, ...). */
export class UpstreamSocketError extends UpstreamFailure {
  readonly errno: string;
  constructor(errno: string, message: string) {
    super('NODIX_ERR_UPSTREAM_SOCKET', message);
    this.errno = errno;
  }
}

/** The upstream answered something that is not HTTP as this proxy reads it strictly. */
export class UpstreamBadResponseError extends UpstreamFailure {
  constructor(what: string) {
    super('NODIX_ERR_BAD_RESPONSE', `the upstream sent ${what}`);
  }
}

/** The client's request body ended before it was complete. */
export class RequestBodyError extends UpstreamFailure {
  constructor() {
    super('NODIX_ERR_REQUEST_BODY', 'the request body ended before it was complete');
  }
}

/** The upstream client was closed (the proxy is shutting down, or the pool was retired) before the exchange. */
export class UpstreamClientClosedError extends UpstreamFailure {
  constructor() {
    super('NODIX_ERR_CLIENT_CLOSED', 'upstream client closed');
  }
}

/** Connect-phase system codes: nothing reached the upstream, so the request may go to another one. */
const CONNECT_ERRNOS = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
]);

/** A socket error from node:net/tls/http (`err.code` an errno) as the UpstreamFailure it means. */
export function upstreamSocketFailure(err: Error): NodixProxyError {
  if (err instanceof NodixProxyError) return err;
  const errno = (err as NodeJS.ErrnoException).code ?? '';
  if (CONNECT_ERRNOS.has(errno)) return new UpstreamConnectError(errno, err.message);
  if (errno === 'ECONNRESET' || errno === 'EPIPE') return new UpstreamClosedError(err.message, errno);
  return new UpstreamSocketError(errno, err.message);
}
