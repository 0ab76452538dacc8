export {
  NodixProxyError,
  NoHealthyUpstreamError,
  ProxyConfigError,
  ProxyStateError,
  RequestBodyError,
  RouteTableError,
  UpgradeTimeoutError,
  UpstreamBadResponseError,
  UpstreamBodyTimeoutError,
  UpstreamClientClosedError,
  UpstreamClosedError,
  UpstreamConnectError,
  UpstreamConnectTimeoutError,
  UpstreamFailure,
  UpstreamHeadersTimeoutError,
  UpstreamSocketError,
} from './errors.js';
export { escapeHtml, statusForError } from './http/error-pages.js';
export type { AdminBackend, ReloadOutcome } from './lifecycle/admin.js';
export {
  DEFAULT_ADMIN_LISTEN,
  DEFAULT_LIMITS,
  DEFAULT_LISTEN,
  DEFAULT_PASSIVE_HEALTH,
  DEFAULT_TIMEOUTS,
  formatAddress,
  type ListenAddress,
  loadProxySettings,
  type PassiveHealthSettings,
  type ProxyLimits,
  type ProxySettings,
  type ProxyTimeouts,
  parseListen,
} from './lifecycle/config.js';
export {
  createProxy,
  type NodixProxy,
  type ProxyAddresses,
  type ProxyOptions,
  type ReloadResult,
} from './lifecycle/create-proxy.js';
export type { AccessLog } from './observe/access-log.js';
export { ProxyMetrics, UNKNOWN_HOST_LABEL } from './observe/metrics.js';
export { BAD_HOST, lookupHost, normaliseHost } from './route-table/host.js';
export { loadRouteTableFile, parseRouteTable } from './route-table/load.js';
export type * from './route-table/types.js';
export { type ValidatedRouteTable, validateRouteTable } from './route-table/validate.js';
export {
  type AcmeCertificates,
  type CertificateSource,
  type CertificateStore,
  loadCertificates,
  TLS_CIPHERS,
  TLS_SETTINGS,
} from './tls/certificates.js';
export { type TlsHandlers, TlsListener } from './tls/listener.js';
