/**
 * Static settings of the proxy (everything but the route table), with convict: defaults, then a JSON config file
 * (`--config`), then the environment, then command-line arguments. Strict: an unknown key or a bad value is a
 * ProxyConfigError naming the key and the value, which the CLI prints as one line before exiting 2.
 *
 * The same defaults and parsers back `createProxy()`'s options, so the library and the CLI cannot drift apart.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import convict from 'convict';
import { ProxyConfigError } from '../errors.js';
import { createTrustedProxies } from '../inbound/trust.js';
import { ACCESS_LOG_FORMATS, type AccessLogFormat } from '../observe/access-log.js';
import { normaliseHost } from '../route-table/host.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface ProxyTimeouts {
  /** Client must send the complete request head within this (slowloris), ms. node:http answers 408. */
  headerMs: number;
  /** Client must send the complete request, body included, within this, ms; 0 disables. */
  requestMs: number;
  /** Idle client keep-alive connections are closed after this, ms. */
  keepAliveMs: number;
  /** Connecting to an upstream, ms (then 504). */
  connectMs: number;
  /** Waiting for an upstream's response headers, ms (then 504). */
  upstreamHeadersMs: number;
  /** Longest pause inside an upstream's response body, ms (then the client connection is cut). */
  upstreamBodyMs: number;
  /** Idle upstream keep-alive sockets are closed after this, ms: keep it below the upstreams' own timeout. */
  upstreamKeepAliveMs: number;
  /** An upstream must answer an Upgrade (WebSocket) request within this, ms (then 504). */
  upgradeMs: number;
  /** Graceful shutdown: in-flight requests get this long to finish before connections are cut, ms. */
  shutdownMs: number;
}

export interface ProxyLimits {
  /** Largest request head accepted, bytes; above it node:http answers 431. */
  maxHeaderSize: number;
  /** Client connections at once; more are refused. 0: no limit. */
  maxConnections: number;
  /** Sockets per upstream origin; further requests wait in the pool. 0: no limit. */
  maxUpstreamConnections: number;
}

/** HTTP/2 on the TLS listener (inbound/h2-fast.ts; inbound/h2.ts with the fast path off). */
export interface H2Settings {
  /** Offer `h2` in ALPN (next to `http/1.1`). */
  enabled: boolean;
  /** SETTINGS_MAX_CONCURRENT_STREAMS: streams a client may have open at once on one connection; more are refused. */
  maxConcurrentStreams: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE: request body bytes a client may send on a stream before the proxy reads them. */
  initialWindowSize: number;
  /**
   * Memory one HTTP/2 session may hold, MB (the own path: request body and response bytes waiting; node:http2's
   * path: nghttp2's accounting); past it new streams are refused (ENHANCE_YOUR_CALM).
   */
  maxSessionMemoryMb: number;
}

export interface PassiveHealthSettings {
  /** Consecutive failed connects after which an upstream is skipped. */
  maxFails: number;
  /** How long it is skipped, ms. */
  cooldownMs: number;
}

export const DEFAULT_LISTEN = '0.0.0.0:8080';
export const DEFAULT_ADMIN_LISTEN = '127.0.0.1:9090';

export const DEFAULT_TIMEOUTS: Readonly<ProxyTimeouts> = {
  headerMs: 20_000,
  requestMs: 300_000,
  keepAliveMs: 5_000,
  connectMs: 5_000,
  upstreamHeadersMs: 60_000,
  upstreamBodyMs: 60_000,
  upstreamKeepAliveMs: 4_000,
  upgradeMs: 10_000,
  shutdownMs: 10_000,
};

export const DEFAULT_LIMITS: Readonly<ProxyLimits> = {
  maxHeaderSize: 16_384,
  maxConnections: 0,
  maxUpstreamConnections: 256,
};

/**
 * HTTP/2 defaults: 128 streams (nginx's http2_max_concurrent_streams); the protocol's own initial window of
 * 64 KiB - 1, so a stream holds at most that much unread request body per stream (a session at most 128 times
 * that, bounded again by the session memory); 10 MB of session memory (node:http2's default).
 */
export const DEFAULT_H2_SETTINGS: Readonly<H2Settings> = {
  enabled: true,
  maxConcurrentStreams: 128,
  initialWindowSize: 65_535,
  maxSessionMemoryMb: 10,
};

/** The ranges the numeric h2 settings may take (flags, environment, config file and createProxy alike). */
export const H2_BOUNDS = {
  maxConcurrentStreams: [1, 10_000],
  initialWindowSize: [1024, 16_777_216],
  maxSessionMemoryMb: [1, 1024],
} as const;

export const DEFAULT_PASSIVE_HEALTH: Readonly<PassiveHealthSettings> = { maxFails: 3, cooldownMs: 10_000 };

/** Everything the CLI runs with. */
export interface ProxySettings {
  listen: ListenAddress;
  /** The TLS listener; null (default): none. */
  listenTls: ListenAddress | null;
  /** TLS session resumption with session tickets (default true). */
  tlsSessionResumption: boolean;
  /** null: no admin listener (`off`). */
  adminListen: ListenAddress | null;
  /** Routes file; null: start with an empty table (every host unknown). */
  routes: string | null;
  /** Processes serving traffic: 1 runs in this process, more use node:cluster. */
  workers: number;
  /** Reload when the routes file changes. */
  watch: boolean;
  timeouts: ProxyTimeouts;
  limits: ProxyLimits;
  health: PassiveHealthSettings;
  trustedProxies: string[];
  /** Forward request header names with an underscore (default false: dropped, as nginx does). */
  underscoresInHeaders: boolean;
  /** `-` for standard output, a file path, or null for none. */
  accessLog: string | null;
  accessLogFormat: AccessLogFormat;
  /** Host names the admin listener answers besides loopback and its own address. */
  adminAllowedHosts: string[];
  h2: H2Settings;
  /** ACME (tls/acme/): used for route-table hosts with `"tls": "acme"`. */
  acme: AcmeSettings;
}

export interface AcmeSettings {
  /** State directory: account, keys, certificates, retry state. */
  dir: string;
  /** The CA's ACME directory URL. */
  directoryUrl: string;
  /** Account contact, or null. */
  email: string | null;
  /** Extra CA (PEM file) trusted for the directory's HTTPS, or null. */
  caFile: string | null;
  /** Renew this many days before expiry. */
  renewDays: number;
}

/** Let's Encrypt's production directory (acme-client's `directory.letsencrypt.production`). */
export const DEFAULT_ACME_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

/**
 * `--acme-dir` when not given: `$STATE_DIRECTORY/acme` under systemd's `StateDirectory=` (the unit in systemd/),
 * else `acme` in the working directory.
 */
export function defaultAcmeDir(env: NodeJS.ProcessEnv): string {
  const state = env.STATE_DIRECTORY?.split(':')[0];
  return state ? join(state, 'acme') : 'acme';
}

/** `HOST:PORT`, `[IPV6]:PORT`, `:PORT` or `PORT` (all interfaces). Throws an Error saying what is wrong. */
export function parseListen(value: unknown): ListenAddress {
  if (value !== null && typeof value === 'object') {
    const { host, port } = value as Partial<ListenAddress>;
    if (
      typeof host !== 'string' ||
      host === '' ||
      typeof port !== 'number' ||
      !Number.isInteger(port) ||
      port < 0 ||
      port > 65535
    ) {
      throw new Error(
        `must be {host, port} with a port from 0 to 65535 (value was ${JSON.stringify(value)})`,
      );
    }
    return { host, port };
  }
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || text.trim() === '') {
    throw new Error(`must be HOST:PORT (value was ${JSON.stringify(value)})`);
  }
  let host = '0.0.0.0';
  let portText = text.trim();
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(portText);
  if (v6 !== null) {
    host = v6[1]!;
    portText = v6[2]!;
  } else if (portText.includes(':')) {
    const colon = portText.lastIndexOf(':');
    host = portText.slice(0, colon) || '0.0.0.0';
    portText = portText.slice(colon + 1);
    if (host.includes(':'))
      throw new Error(`must bracket an IPv6 address: [::1]:8080 (value was ${JSON.stringify(value)})`);
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new Error(`must be HOST:PORT with a port from 0 to 65535 (value was ${JSON.stringify(value)})`);
  }
  return { host, port: Number(portText) };
}

/** Like parseListen, but an empty value (the default) or `off` means no TLS listener: null. */
export function parseTlsListen(value: unknown): ListenAddress | null {
  if (value === null || value === undefined || value === '' || value === 'off' || value === false)
    return null;
  return parseListen(value);
}

/** Like parseListen, but `off` (or an empty value) means no listener: null. */
export function parseAdminListen(value: unknown): ListenAddress | null {
  if (value === null || value === 'off' || value === '' || value === false) return null;
  return parseListen(value);
}

export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function formatFrom(parse: (value: unknown) => unknown): { validate: (value: unknown) => void } {
  return {
    validate(value: unknown) {
      parse(value);
    },
  };
}

// Arguments and the environment arrive as strings: plain digits become numbers, anything else reaches the
// validator as typed, so that the message can name it.
function toInteger(value: unknown): unknown {
  return typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
}

/** An integer that is not one, or one outside [min, max] ("out of range", as a negative number is). */
function checkInteger(value: unknown, min: number, max: number, unit: string, alternative = ''): void {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new Error(
      `must be ${alternative}an integer from ${min} to ${max}${unit} (value was ${JSON.stringify(value)})`,
    );
  }
  if (value < min || value > max) {
    throw new Error(
      `is out of range: must be ${alternative}an integer from ${min} to ${max}${unit} (value was ${value})`,
    );
  }
}

function integerFormat(name: string, min: number, max: number, unit: string) {
  convict.addFormat({
    name,
    coerce: toInteger,
    validate: (value: unknown) => checkInteger(value, min, max, unit),
  });
}

/** `a, b,c` → ['a', 'b', 'c'] (arguments and the environment); a config file's array as it is. */
function splitList(value: unknown): unknown {
  return typeof value === 'string'
    ? value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
    : value;
}

let formatsAdded = false;
function addFormats(): void {
  if (formatsAdded) return;
  formatsAdded = true;
  integerFormat('nodix-proxy-ms', 0, 86_400_000, ' ms');
  integerFormat('nodix-proxy-positive-ms', 1, 86_400_000, ' ms');
  integerFormat('nodix-proxy-count', 0, 10_000_000, '');
  integerFormat('nodix-proxy-header-size', 1024, 1_048_576, ' bytes');
  integerFormat('nodix-proxy-fails', 1, 1000, '');
  integerFormat('nodix-proxy-h2-streams', ...H2_BOUNDS.maxConcurrentStreams, '');
  integerFormat('nodix-proxy-h2-window', ...H2_BOUNDS.initialWindowSize, ' bytes');
  integerFormat('nodix-proxy-h2-memory', ...H2_BOUNDS.maxSessionMemoryMb, ' MB');
  integerFormat('nodix-proxy-days', 1, 365, ' days');
  convict.addFormat({
    name: 'nodix-proxy-url',
    validate(value: unknown) {
      let ok = false;
      try {
        ok = typeof value === 'string' && /^https?:$/.test(new URL(value).protocol);
      } catch {}
      if (!ok) throw new Error(`must be an http(s) URL (value was ${JSON.stringify(value)})`);
    },
  });
  convict.addFormat({
    name: 'nodix-proxy-email',
    validate(value: unknown) {
      if (typeof value !== 'string' || (value !== '' && !/^[^\s@:]+@[^\s@]+$/.test(value)))
        throw new Error(`must be an email address (value was ${JSON.stringify(value)})`);
    },
  });
  convict.addFormat({ name: 'nodix-proxy-listen', ...formatFrom(parseListen) });
  convict.addFormat({ name: 'nodix-proxy-admin-listen', ...formatFrom(parseAdminListen) });
  convict.addFormat({ name: 'nodix-proxy-tls-listen', ...formatFrom(parseTlsListen) });
  convict.addFormat({
    name: 'nodix-proxy-workers',
    coerce: toInteger,
    validate(value: unknown) {
      if (value !== 'auto') checkInteger(value, 1, 1024, '', 'auto or ');
    },
  });
  convict.addFormat({
    name: 'nodix-proxy-boolean',
    coerce: (value: unknown) => (value === 'true' ? true : value === 'false' ? false : value),
    validate(value: unknown) {
      if (typeof value !== 'boolean')
        throw new Error(`must be true or false (value was ${JSON.stringify(value)})`);
    },
  });
  convict.addFormat({
    name: 'nodix-proxy-trusted',
    coerce: splitList,
    validate(value: unknown) {
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
        throw new Error(`must be a list of IP addresses or CIDR ranges (value was ${JSON.stringify(value)})`);
      }
      try {
        createTrustedProxies(value as string[]);
      } catch (err) {
        throw new Error((err as Error).message.replace(/^trustedProxies: /, ''));
      }
    },
  });
  convict.addFormat({
    name: 'nodix-proxy-access-log-format',
    validate(value: unknown) {
      if (!(ACCESS_LOG_FORMATS as readonly unknown[]).includes(value))
        throw new Error(
          `must be one of ${ACCESS_LOG_FORMATS.join(', ')} (value was ${JSON.stringify(value)})`,
        );
    },
  });
  convict.addFormat({
    name: 'nodix-proxy-host-list',
    coerce: splitList,
    validate(value: unknown) {
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || normaliseHost(v) === null)) {
        throw new Error(`must be a list of host names or addresses (value was ${JSON.stringify(value)})`);
      }
    },
  });
  convict.addFormat({
    name: 'nodix-proxy-path',
    coerce: (value: unknown) => (typeof value === 'number' ? String(value) : value),
    validate(value: unknown) {
      if (typeof value !== 'string')
        throw new Error(`must be a file path (value was ${JSON.stringify(value)})`);
    },
  });
  convict.addFormat({
    name: 'nodix-proxy-routes-path',
    coerce: (value: unknown) => (typeof value === 'number' ? String(value) : value),
    validate(value: unknown) {
      if (typeof value !== 'string')
        throw new Error(`must be a file path (value was ${JSON.stringify(value)})`);
      // The table is read again on every reload and watched for changes: standard input can be read once only.
      if (value === '-')
        throw new Error(`must be a file path; standard input cannot be re-read on reload (value was "-")`);
    },
  });
}

/** One row per setting: config-file key, flag, environment variable, format, default, documentation. */
interface SettingRow {
  key: string;
  flag: string;
  format: string;
  default: unknown;
  doc: string;
}

export const SETTINGS: readonly SettingRow[] = [
  {
    key: 'listen',
    flag: 'listen',
    format: 'nodix-proxy-listen',
    default: DEFAULT_LISTEN,
    doc: 'Traffic listener, HOST:PORT (port 0: any free port).',
  },
  {
    key: 'listenTls',
    flag: 'listen-tls',
    format: 'nodix-proxy-tls-listen',
    default: '',
    doc: 'TLS (HTTPS) listener, HOST:PORT; empty: none. Certificates per host come from the route table (tls, defaultTls).',
  },
  {
    key: 'tlsSessionResumption',
    flag: 'tls-session-resumption',
    format: 'nodix-proxy-boolean',
    default: true,
    doc: 'Let TLS clients resume sessions (session tickets); false: a full handshake every time (true/false).',
  },
  {
    key: 'adminListen',
    flag: 'admin-listen',
    format: 'nodix-proxy-admin-listen',
    default: DEFAULT_ADMIN_LISTEN,
    doc: 'Admin listener (/metrics, /healthz, /reload), HOST:PORT or off.',
  },
  {
    key: 'adminAllowedHosts',
    flag: 'admin-allowed-hosts',
    format: 'nodix-proxy-host-list',
    default: [],
    doc: 'Comma-separated Host names the admin listener answers besides loopback and its own address (else 421).',
  },
  {
    key: 'routes',
    flag: 'routes',
    format: 'nodix-proxy-routes-path',
    default: '',
    doc: 'Route table JSON file (empty: no hosts, every request gets the unknown-host page).',
  },
  {
    key: 'workers',
    flag: 'workers',
    format: 'nodix-proxy-workers',
    default: 1,
    doc: 'Processes serving traffic: a number, or auto (one per CPU); more than 1 uses node:cluster.',
  },
  {
    key: 'watch',
    flag: 'watch',
    format: 'nodix-proxy-boolean',
    default: true,
    doc: 'Reload the route table when the routes file changes (true/false).',
  },
  {
    key: 'accessLog',
    flag: 'access-log',
    format: 'nodix-proxy-path',
    default: '',
    doc: 'Access log: a file to append to, - for standard output, empty for none.',
  },
  {
    key: 'accessLogFormat',
    flag: 'access-log-format',
    format: 'nodix-proxy-access-log-format',
    default: 'nodix',
    doc: `Access log format: ${ACCESS_LOG_FORMATS.join(', ')} (json: request id, upstream, times, bytes, user agent...).`,
  },
  {
    key: 'trustedProxies',
    flag: 'trusted-proxies',
    format: 'nodix-proxy-trusted',
    default: [],
    doc: 'Comma-separated IPs/CIDRs whose X-Forwarded-* headers are kept.',
  },
  {
    key: 'underscoresInHeaders',
    flag: 'underscores-in-headers',
    format: 'nodix-proxy-boolean',
    default: false,
    doc: 'Forward request header names containing an underscore (default: dropped, as nginx does).',
  },
  {
    key: 'timeouts.header',
    flag: 'header-timeout',
    format: 'nodix-proxy-positive-ms',
    default: DEFAULT_TIMEOUTS.headerMs,
    doc: 'ms for a client to send the request head (slowloris guard; 408).',
  },
  {
    key: 'timeouts.request',
    flag: 'request-timeout',
    format: 'nodix-proxy-ms',
    default: DEFAULT_TIMEOUTS.requestMs,
    doc: 'ms for a client to send the whole request, body included (0: none).',
  },
  {
    key: 'timeouts.keepAlive',
    flag: 'keep-alive-timeout',
    format: 'nodix-proxy-positive-ms',
    default: DEFAULT_TIMEOUTS.keepAliveMs,
    doc: 'ms an idle client keep-alive connection stays open.',
  },
  {
    key: 'timeouts.connect',
    flag: 'connect-timeout',
    format: 'nodix-proxy-positive-ms',
    default: DEFAULT_TIMEOUTS.connectMs,
    doc: 'ms to connect to an upstream (then 504).',
  },
  {
    key: 'timeouts.upstreamHeaders',
    flag: 'upstream-headers-timeout',
    format: 'nodix-proxy-positive-ms',
    default: DEFAULT_TIMEOUTS.upstreamHeadersMs,
    doc: "ms to wait for an upstream's response headers (then 504).",
  },
  {
    key: 'timeouts.upstreamBody',
    flag: 'upstream-body-timeout',
    format: 'nodix-proxy-positive-ms',
    default: DEFAULT_TIMEOUTS.upstreamBodyMs,
    doc: "ms of silence allowed inside an upstream's response body (then the connection is cut).",
  },
  {
    key: 'timeouts.upstreamKeepAlive',
    flag: 'upstream-keep-alive-timeout',
    format: 'nodix-proxy-positive-ms',
    default: DEFAULT_TIMEOUTS.upstreamKeepAliveMs,
    doc: "ms an idle upstream socket is kept; below the upstreams' keep-alive timeout (node: 5000).",
  },
  {
    key: 'timeouts.upgrade',
    flag: 'upgrade-timeout',
    format: 'nodix-proxy-positive-ms',
    default: DEFAULT_TIMEOUTS.upgradeMs,
    doc: 'ms for an upstream to answer a WebSocket/Upgrade request (then 504).',
  },
  {
    key: 'timeouts.shutdown',
    flag: 'shutdown-timeout',
    format: 'nodix-proxy-ms',
    default: DEFAULT_TIMEOUTS.shutdownMs,
    doc: 'ms in-flight requests get to finish on SIGTERM/SIGINT before connections are cut.',
  },
  {
    key: 'limits.maxHeaderSize',
    flag: 'max-header-size',
    format: 'nodix-proxy-header-size',
    default: DEFAULT_LIMITS.maxHeaderSize,
    doc: 'Largest request head in bytes (above: 431).',
  },
  {
    key: 'limits.maxConnections',
    flag: 'max-connections',
    format: 'nodix-proxy-count',
    default: DEFAULT_LIMITS.maxConnections,
    doc: 'Client connections at once, per worker (0: no limit).',
  },
  {
    key: 'limits.maxUpstreamConnections',
    flag: 'max-upstream-connections',
    format: 'nodix-proxy-count',
    default: DEFAULT_LIMITS.maxUpstreamConnections,
    doc: 'Sockets per upstream, per worker (0: no limit).',
  },
  {
    key: 'health.maxFails',
    flag: 'max-fails',
    format: 'nodix-proxy-fails',
    default: DEFAULT_PASSIVE_HEALTH.maxFails,
    doc: 'Failed connects in a row before an upstream is skipped (route table may override).',
  },
  {
    key: 'health.cooldown',
    flag: 'fail-cooldown',
    format: 'nodix-proxy-ms',
    default: DEFAULT_PASSIVE_HEALTH.cooldownMs,
    doc: 'ms a failing upstream is skipped (route table may override).',
  },
  {
    key: 'h2.enabled',
    flag: 'h2',
    format: 'nodix-proxy-boolean',
    default: DEFAULT_H2_SETTINGS.enabled,
    doc: 'Offer HTTP/2 (ALPN h2) on the TLS listener next to HTTP/1.1 (true/false).',
  },
  {
    key: 'h2.maxConcurrentStreams',
    flag: 'h2-max-concurrent-streams',
    format: 'nodix-proxy-h2-streams',
    default: DEFAULT_H2_SETTINGS.maxConcurrentStreams,
    doc: 'HTTP/2 streams a client may have open at once per connection (more are refused, REFUSED_STREAM).',
  },
  {
    key: 'h2.initialWindowSize',
    flag: 'h2-initial-window-size',
    format: 'nodix-proxy-h2-window',
    default: DEFAULT_H2_SETTINGS.initialWindowSize,
    doc: 'HTTP/2 initial stream window, bytes: request body a client may send ahead of the upstream reading it.',
  },
  {
    key: 'h2.maxSessionMemory',
    flag: 'h2-max-session-memory',
    format: 'nodix-proxy-h2-memory',
    default: DEFAULT_H2_SETTINGS.maxSessionMemoryMb,
    doc: 'MB one HTTP/2 connection may hold; past it new streams are refused (ENHANCE_YOUR_CALM).',
  },
  {
    key: 'acme.dir',
    flag: 'acme-dir',
    format: 'nodix-proxy-path',
    default: '',
    doc: 'ACME state directory (account, keys, certificates; created 0700). Default $STATE_DIRECTORY/acme, else ./acme.',
  },
  {
    key: 'acme.directory',
    flag: 'acme-directory',
    format: 'nodix-proxy-url',
    default: DEFAULT_ACME_DIRECTORY,
    doc: 'ACME directory URL for "tls": "acme" hosts (default Let\'s Encrypt production; try its staging first).',
  },
  {
    key: 'acme.email',
    flag: 'acme-email',
    format: 'nodix-proxy-email',
    default: '',
    doc: 'Contact address of the ACME account (expiry warnings from the CA).',
  },
  {
    key: 'acme.ca',
    flag: 'acme-ca',
    format: 'nodix-proxy-path',
    default: '',
    doc: "PEM file of an extra CA trusted for the ACME directory's HTTPS (a test CA such as Pebble's).",
  },
  {
    key: 'acme.renewDays',
    flag: 'acme-renew-days',
    format: 'nodix-proxy-days',
    default: 30,
    doc: 'Renew ACME certificates this many days before they expire.',
  },
];

/**
 * `--flag VALUE` → `--flag=VALUE` for every flag in `valueFlags`, whatever VALUE looks like: `-` (standard
 * output) and `-5` (a negative number, refused later as out of range) are values. Without this, node's parseArgs
 * calls `-5` "ambiguous" and convict's argument parser reads `--access-log -` as `--access-log` (true) followed
 * by a lone `-`. The next argument is taken unless it is a long option itself (`--routes --watch false`), as
 * getopt does; a flag at the very end is left alone for parseArgs to report as missing its value.
 */
export function attachFlagValues(argv: readonly string[], valueFlags: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    if (valueFlags.has(arg) && next !== undefined && !next.startsWith('--')) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** The flags taking a value, for attachFlagValues: every setting's and `--config`. */
export const VALUE_FLAGS: ReadonlySet<string> = new Set([
  '--config',
  ...SETTINGS.map((row) => `--${row.flag}`),
]);

/** `timeouts.upstreamHeaders` → `NODIX_PROXY_UPSTREAM_HEADERS_TIMEOUT` (the flag, upper-cased). */
export function envName(row: SettingRow): string {
  return `NODIX_PROXY_${row.flag.replaceAll('-', '_').toUpperCase()}`;
}

type Tree = { [key: string]: Tree | convict.SchemaObj };

function createSchema(argv: string[], env: NodeJS.ProcessEnv) {
  addFormats();
  const schema: Tree = {};
  for (const row of SETTINGS) {
    const parts = row.key.split('.');
    let node = schema;
    for (const part of parts.slice(0, -1)) {
      node[part] ??= {};
      node = node[part] as Tree;
    }
    node[parts.at(-1)!] = {
      doc: row.doc,
      format: row.format,
      default: row.default,
      env: envName(row),
      arg: row.flag,
    };
  }
  return convict(schema as convict.Schema<Record<string, unknown>>, { args: argv, env });
}

/**
 * Loads the settings: defaults, then `configFile` (JSON), then `env`, then `argv`. Throws ProxyConfigError with
 * one line naming the key and the value.
 */
export function loadProxySettings(
  argv: string[],
  env: NodeJS.ProcessEnv,
  configFile?: string,
): ProxySettings {
  const config = createSchema(attachFlagValues(argv, VALUE_FLAGS), env);
  if (configFile !== undefined) {
    try {
      config.loadFile(configFile);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const reason =
        e.code === 'ENOENT' || e.code === 'EACCES' ? `cannot read it (${e.code})` : e.message.split('\n')[0];
      throw new ProxyConfigError(`config file ${configFile}: ${reason}`);
    }
  }
  try {
    config.validate({ allowed: 'strict' });
  } catch (err) {
    // convict reports every problem, one per line; the first is the one to act on.
    const first = String((err as Error).message).split('\n')[0] ?? 'invalid configuration';
    const undeclared = /^configuration param '(.*)' not declared in the schema$/.exec(first);
    if (undeclared !== null) {
      throw new ProxyConfigError(
        `${configFile === undefined ? 'invalid configuration' : `config file ${configFile}`}: unknown key '${undeclared[1]}'`,
      );
    }
    throw new ProxyConfigError(`invalid configuration: ${first.replace(/: value was .*$/, '')}`);
  }
  const get = (key: string) => config.get(key as never) as unknown;
  const timeouts: ProxyTimeouts = {
    headerMs: get('timeouts.header') as number,
    requestMs: get('timeouts.request') as number,
    keepAliveMs: get('timeouts.keepAlive') as number,
    connectMs: get('timeouts.connect') as number,
    upstreamHeadersMs: get('timeouts.upstreamHeaders') as number,
    upstreamBodyMs: get('timeouts.upstreamBody') as number,
    upstreamKeepAliveMs: get('timeouts.upstreamKeepAlive') as number,
    upgradeMs: get('timeouts.upgrade') as number,
    shutdownMs: get('timeouts.shutdown') as number,
  };
  checkTimeouts(timeouts);
  const workers = get('workers') as number | 'auto';
  const routes = get('routes') as string;
  const accessLog = get('accessLog') as string;
  return {
    listen: parseListen(get('listen')),
    listenTls: parseTlsListen(get('listenTls')),
    tlsSessionResumption: get('tlsSessionResumption') as boolean,
    adminListen: parseAdminListen(get('adminListen')),
    routes: routes === '' ? null : routes,
    workers: workers === 'auto' ? availableParallelism() : workers,
    watch: get('watch') as boolean,
    timeouts,
    limits: {
      maxHeaderSize: get('limits.maxHeaderSize') as number,
      maxConnections: get('limits.maxConnections') as number,
      maxUpstreamConnections: get('limits.maxUpstreamConnections') as number,
    },
    health: { maxFails: get('health.maxFails') as number, cooldownMs: get('health.cooldown') as number },
    trustedProxies: get('trustedProxies') as string[],
    underscoresInHeaders: get('underscoresInHeaders') as boolean,
    accessLog: accessLog === '' ? null : accessLog,
    accessLogFormat: get('accessLogFormat') as AccessLogFormat,
    adminAllowedHosts: get('adminAllowedHosts') as string[],
    h2: {
      enabled: get('h2.enabled') as boolean,
      maxConcurrentStreams: get('h2.maxConcurrentStreams') as number,
      initialWindowSize: get('h2.initialWindowSize') as number,
      maxSessionMemoryMb: get('h2.maxSessionMemory') as number,
    },
    acme: {
      dir: (get('acme.dir') as string) || defaultAcmeDir(env),
      directoryUrl: get('acme.directory') as string,
      email: (get('acme.email') as string) || null,
      caFile: (get('acme.ca') as string) || null,
      renewDays: get('acme.renewDays') as number,
    },
  };
}

/** Checks between settings that convict's per-key formats cannot express. */
export function checkTimeouts(t: ProxyTimeouts): void {
  // node:http refuses a head timeout longer than the whole-request timeout.
  if (t.requestMs !== 0 && t.headerMs > t.requestMs) {
    throw new ProxyConfigError(
      `invalid configuration: timeouts.header must not exceed timeouts.request (value was ${t.headerMs} > ${t.requestMs})`,
    );
  }
}
