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

/** The upstream did not complete the WebSocket/Upgrade handshake in time: answered with 504. */
export class UpgradeTimeoutError extends NodixProxyError {
  constructor(ms: number) {
    super('NODIX_ERR_UPGRADE_TIMEOUT', `upstream did not answer the upgrade within ${ms} ms`);
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
