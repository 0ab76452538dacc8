export type { AccessLog } from './access-log.js';
export type { AdminBackend, ReloadOutcome } from './admin.js';
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
} from './config.js';
export { escapeHtml, statusForError } from './error-pages.js';
export {
  NodixProxyError,
  NoHealthyUpstreamError,
  ProxyConfigError,
  ProxyStateError,
  RouteTableError,
  UpgradeTimeoutError,
} from './errors.js';
export { BAD_HOST, lookupHost, normaliseHost } from './host.js';
export { ProxyMetrics, UNKNOWN_HOST_LABEL } from './metrics.js';
export {
  createProxy,
  type NodixProxy,
  type ProxyAddresses,
  type ProxyOptions,
  type ReloadResult,
} from './proxy.js';
export { loadRouteTableFile, parseRouteTable } from './route-table/load.js';
export type * from './route-table/types.js';
export { type ValidatedRouteTable, validateRouteTable } from './route-table/validate.js';
