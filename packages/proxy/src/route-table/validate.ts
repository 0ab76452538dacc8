/**
 * Route table validation: a pure function from an untrusted JSON value to a normalised description, or a
 * RouteTableError naming the source, the JSON path of the first bad value and the reason. It follows
 * `route-table.schema.json` (the same keys, types and limits) and adds the checks a schema cannot express:
 * host names after normalisation, duplicate hosts, upstream URLs and path-route conflicts (find-my-way).
 *
 * Arguments are checked here, when a table is loaded, never when a request is routed.
 */
import { METHODS } from 'node:http';
import { resolve } from 'node:path';
import { RouteTableError } from '../errors.js';
import { normaliseHost } from './host.js';
import { createPathRouter } from './path-router.js';
import type { BalanceStrategy, ErrorPageStatus, HealthCheckConfig, RouteTableConfig } from './types.js';

export const TOP_LEVEL_KEYS = [
  '$schema',
  'version',
  'hosts',
  'errorPage',
  'errorPages',
  'defaultTls',
] as const;
export const HOST_KEYS = [
  'upstreams',
  'balance',
  'routes',
  'health',
  'tls',
  'redirectHttps',
  'hsts',
] as const;
export const TLS_KEYS = ['cert', 'key'] as const;
export const HSTS_KEYS = ['maxAge', 'includeSubDomains', 'preload'] as const;
export const ROUTE_KEYS = ['path', 'methods', 'upstreams', 'balance'] as const;
export const HEALTH_KEYS = ['path', 'intervalMs', 'timeoutMs', 'maxFails', 'cooldownMs'] as const;
export const BALANCE_STRATEGIES: readonly BalanceStrategy[] = ['round-robin', 'least-conn', 'ip-hash'];
export const ERROR_PAGE_STATUSES: readonly ErrorPageStatus[] = ['400', '404', '421', '502', '503', '504'];

export interface ValidatedRoute {
  path: string;
  /** Upper-case method names; empty means every method. */
  methods: string[];
  /** Normalised origins (`http://127.0.0.1:3001`), no duplicates. */
  upstreams: string[];
  balance: BalanceStrategy;
}

export interface ValidatedHost {
  /** The key as written in the file: the metrics label and what `GET /route-table` shows. */
  key: string;
  /** Lookup name: lowercase, no trailing dot; for a wildcard the suffix without `*.`. */
  name: string;
  wildcard: boolean;
  upstreams: string[];
  balance: BalanceStrategy;
  routes: ValidatedRoute[];
  health: HealthCheckConfig;
  /** Certificate files (absolute paths), `acme`, or null: no certificate of its own. */
  tls: ValidatedTls | 'acme' | null;
  redirectHttps: boolean;
  /** The whole `Strict-Transport-Security` value (`max-age=31536000; includeSubDomains`), or null. */
  hsts: string | null;
}

/** A certificate and its key, as absolute paths (relative ones resolved against the table's directory). */
export interface ValidatedTls {
  cert: string;
  key: string;
  /** Where in the table it was declared (`hosts["a.example.org"].tls`), for messages about the files. */
  where: string;
}

export interface ValidatedRouteTable {
  /**
   * The document as given (what workers receive and `GET /route-table` returns). Read it when needed, do not
   * keep it: for a table parsed from text it is parsed again on each read (see load.ts).
   */
  readonly config: RouteTableConfig;
  /** What `config` calls: a built table keeps this function only, not the validated hosts with it. */
  readonly readConfig: () => RouteTableConfig;
  hosts: ValidatedHost[];
  errorPages: Partial<Record<ErrorPageStatus, string>>;
  /** `defaultTls`, or null. */
  defaultTls: ValidatedTls | null;
}

type Json = Record<string, unknown>;

// Shared by every host that has none: a 10 000-host table should not allocate 20 000 empty objects per reload.
const NO_HEALTH: HealthCheckConfig = Object.freeze({});
const NO_ROUTES: ValidatedRoute[] = Object.freeze([]) as unknown as ValidatedRoute[];

/** Whether two validated hosts route identically (what a reload may keep as built). */
export function sameHost(a: ValidatedHost, b: ValidatedHost): boolean {
  if (a.key !== b.key || a.balance !== b.balance || !sameList(a.upstreams, b.upstreams)) return false;
  if (a.health !== b.health && JSON.stringify(a.health) !== JSON.stringify(b.health)) return false;
  if (a.redirectHttps !== b.redirectHttps || a.hsts !== b.hsts) return false;
  return a.routes === b.routes || JSON.stringify(a.routes) === JSON.stringify(b.routes);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function member(path: string, key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)
    ? `${path === '' ? '' : path}${path === '' ? '' : '.'}${key}`
    : `${path}[${JSON.stringify(key)}]`;
}

class Checker {
  readonly #origins = new Map<string, string>();
  constructor(readonly source: string) {}

  fail(key: string, reason: string): never {
    throw new RouteTableError(this.source, key, reason);
  }

  object(value: unknown, key: string, allowed: readonly string[]): Json {
    if (!isObject(value)) this.fail(key, `must be an object (value was ${describe(value)})`);
    for (const name of Object.keys(value)) {
      if (!allowed.includes(name)) {
        this.fail(member(key, name), `unknown key (allowed: ${allowed.join(', ')})`);
      }
    }
    return value;
  }

  integer(value: unknown, key: string, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.fail(key, `must be an integer from ${min} to ${max} (value was ${describe(value)})`);
    }
    return value;
  }

  string(value: unknown, key: string): string {
    if (typeof value !== 'string') this.fail(key, `must be a string (value was ${describe(value)})`);
    return value;
  }

  balance(value: unknown, key: string): BalanceStrategy {
    if (value === undefined) return 'round-robin';
    if (!BALANCE_STRATEGIES.includes(value as BalanceStrategy)) {
      this.fail(key, `must be one of ${BALANCE_STRATEGIES.join(', ')} (value was ${describe(value)})`);
    }
    return value as BalanceStrategy;
  }

  upstreams(value: unknown, key: string): string[] {
    if (!Array.isArray(value) || value.length === 0) {
      this.fail(key, `must be a non-empty array of http://host:port URLs (value was ${describe(value)})`);
    }
    // map, not push: an array of exactly this length (a 10 000-host table keeps one per host).
    const origins = value.map((item: unknown, index: number) =>
      this.upstreamOrigin(item, `${key}[${index}]`),
    );
    for (let i = 1; i < origins.length; i++) {
      if (origins.indexOf(origins[i]!) < i) this.fail(`${key}[${i}]`, `duplicate upstream ${origins[i]}`);
    }
    return origins;
  }

  upstreamOrigin(value: unknown, key: string): string {
    const text = this.string(value, key);
    // Big tables name the same few upstreams thousands of times: parse each distinct spelling once.
    const known = this.#origins.get(text);
    if (known !== undefined) return known;
    const origin = this.#parseOrigin(text, key);
    this.#origins.set(text, origin);
    return origin;
  }

  #parseOrigin(text: string, key: string): string {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return this.fail(
        key,
        `must be an absolute URL such as http://127.0.0.1:3001 (value was ${describe(text)})`,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      this.fail(key, `must use http: or https: (value was ${describe(text)})`);
    }
    if (url.username !== '' || url.password !== '') this.fail(key, 'must not contain credentials');
    if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
      this.fail(key, `must be an origin without path, query or fragment (value was ${describe(text)})`);
    }
    return url.origin;
  }

  boolean(value: unknown, key: string): boolean {
    if (typeof value !== 'boolean') this.fail(key, `must be true or false (value was ${describe(value)})`);
    return value;
  }

  /** `{ "cert": FILE, "key": FILE }`; paths resolved against `baseDir`. */
  tlsFiles(value: unknown, key: string, baseDir: string): ValidatedTls {
    const files = this.object(value, key, TLS_KEYS);
    const file = (name: 'cert' | 'key'): string => {
      const text = this.string(files[name], `${key}.${name}`);
      if (text === '') this.fail(`${key}.${name}`, 'must be a file path (value was "")');
      return resolve(baseDir, text);
    };
    return { cert: file('cert'), key: file('key'), where: key };
  }

  tls(value: unknown, key: string, baseDir: string): ValidatedTls | 'acme' | null {
    if (value === undefined) return null;
    if (value === 'acme') return 'acme';
    if (!isObject(value))
      this.fail(key, `must be "acme" or { "cert": FILE, "key": FILE } (value was ${describe(value)})`);
    return this.tlsFiles(value, key, baseDir);
  }

  hsts(value: unknown, key: string): string | null {
    if (value === undefined) return null;
    const hsts = this.object(value, key, HSTS_KEYS);
    if (hsts.maxAge === undefined) this.fail(`${key}.maxAge`, 'is required (seconds, e.g. 31536000)');
    const maxAge = this.integer(hsts.maxAge, `${key}.maxAge`, 0, 2_147_483_647);
    let header = `max-age=${maxAge}`;
    if (
      hsts.includeSubDomains !== undefined &&
      this.boolean(hsts.includeSubDomains, `${key}.includeSubDomains`)
    )
      header += '; includeSubDomains';
    if (hsts.preload !== undefined && this.boolean(hsts.preload, `${key}.preload`)) header += '; preload';
    return header;
  }

  health(value: unknown, key: string): HealthCheckConfig {
    if (value === undefined) return NO_HEALTH;
    const health = this.object(value, key, HEALTH_KEYS);
    const out: HealthCheckConfig = {};
    if (health.path !== undefined) {
      const path = this.string(health.path, `${key}.path`);
      if (!path.startsWith('/') || /[^\u0021-\u007e]/.test(path)) {
        this.fail(
          `${key}.path`,
          `must start with / and hold visible ASCII only (value was ${describe(path)})`,
        );
      }
      out.path = path;
    }
    if (health.intervalMs !== undefined)
      out.intervalMs = this.integer(health.intervalMs, `${key}.intervalMs`, 100, 86_400_000);
    if (health.timeoutMs !== undefined)
      out.timeoutMs = this.integer(health.timeoutMs, `${key}.timeoutMs`, 1, 3_600_000);
    if (health.maxFails !== undefined)
      out.maxFails = this.integer(health.maxFails, `${key}.maxFails`, 1, 1000);
    if (health.cooldownMs !== undefined)
      out.cooldownMs = this.integer(health.cooldownMs, `${key}.cooldownMs`, 0, 86_400_000);
    return out;
  }
}

const KNOWN_METHODS = new Set(METHODS);

function hostKeyName(checker: Checker, key: string, path: string): { name: string; wildcard: boolean } {
  const wildcard = key.startsWith('*.');
  const bare = wildcard ? key.slice(2) : key;
  // A port in a host key can never match: ports are stripped from the request's Host before lookup.
  const hasPort = bare.startsWith('[') ? /\]:/.test(bare) : bare.includes(':');
  if (hasPort) checker.fail(path, 'a host name must not include a port');
  const name = bare.includes('*') ? null : normaliseHost(bare);
  if (name === null) {
    checker.fail(
      path,
      'must be a host name (webapp1.local), an IPv6 literal ([::1]) or a wildcard (*.example.org)',
    );
  }
  return { name, wildcard };
}

/**
 * Validates `value` (parsed JSON) as a route table. `source` names it in errors: a file path or a label. Relative
 * certificate paths are resolved against `baseDir` (the route table file's directory; default the working one).
 */
export function validateRouteTable(
  value: unknown,
  source: string,
  baseDir: string = process.cwd(),
): ValidatedRouteTable {
  const checker: Checker = new Checker(source);
  const root = checker.object(value, '', TOP_LEVEL_KEYS);
  if (root.version !== 1) checker.fail('version', `must be 1 (value was ${describe(root.version)})`);
  if (root.$schema !== undefined) checker.string(root.$schema, '$schema');

  const errorPages: Partial<Record<ErrorPageStatus, string>> = {};
  if (root.errorPages !== undefined) {
    const pages = checker.object(root.errorPages, 'errorPages', ERROR_PAGE_STATUSES);
    for (const status of ERROR_PAGE_STATUSES) {
      if (pages[status] !== undefined)
        errorPages[status] = checker.string(pages[status], `errorPages["${status}"]`);
    }
  }
  if (root.errorPage !== undefined) errorPages['404'] = checker.string(root.errorPage, 'errorPage');

  const defaultTls =
    root.defaultTls === undefined ? null : checker.tlsFiles(root.defaultTls, 'defaultTls', baseDir);

  const hostsValue = root.hosts;
  if (!isObject(hostsValue)) checker.fail('hosts', `must be an object (value was ${describe(hostsValue)})`);

  const seen = new Map<string, string>();
  const hosts: ValidatedHost[] = [];
  for (const key of Object.keys(hostsValue)) {
    const path = member('hosts', key);
    const { name, wildcard } = hostKeyName(checker, key, path);
    const identity = wildcard ? `*.${name}` : name;
    const earlier = seen.get(identity);
    if (earlier !== undefined) {
      checker.fail(path, `duplicate host: the same name as ${JSON.stringify(earlier)} after normalisation`);
    }
    seen.set(identity, key);

    const host = checker.object(hostsValue[key], path, HOST_KEYS);
    const upstreams = checker.upstreams(host.upstreams, `${path}.upstreams`);
    const balance = checker.balance(host.balance, `${path}.balance`);
    const health = checker.health(host.health, `${path}.health`);
    const routes = validateRoutes(checker, host.routes, `${path}.routes`);
    const tls = checker.tls(host.tls, `${path}.tls`, baseDir);
    if (tls === 'acme' && wildcard) {
      checker.fail(
        `${path}.tls`,
        'a wildcard host cannot use "acme": wildcard certificates need the DNS-01 challenge, which nodix-proxy does not answer (give cert and key files)',
      );
    }
    const redirectHttps =
      host.redirectHttps === undefined ? false : checker.boolean(host.redirectHttps, `${path}.redirectHttps`);
    const hsts = checker.hsts(host.hsts, `${path}.hsts`);
    hosts.push({ key, name, wildcard, upstreams, balance, routes, health, tls, redirectHttps, hsts });
  }
  const config = root as unknown as RouteTableConfig;
  return validatedTable(hosts, errorPages, defaultTls, () => config);
}

/** A ValidatedRouteTable whose `config` comes from `readConfig`. */
export function validatedTable(
  hosts: ValidatedHost[],
  errorPages: Partial<Record<ErrorPageStatus, string>>,
  defaultTls: ValidatedTls | null,
  readConfig: () => RouteTableConfig,
): ValidatedRouteTable {
  return {
    hosts,
    errorPages,
    defaultTls,
    readConfig,
    get config() {
      return readConfig();
    },
  };
}

function validateRoutes(checker: Checker, value: unknown, key: string): ValidatedRoute[] {
  if (value === undefined) return NO_ROUTES;
  if (!Array.isArray(value)) checker.fail(key, `must be an array (value was ${describe(value)})`);
  const routes: ValidatedRoute[] = [];
  // Registering in a scratch router is the only complete check of a find-my-way pattern (syntax, conflicts).
  const router = createPathRouter();
  const noop = () => {};
  value.forEach((item: unknown, index: number) => {
    const routeKey = `${key}[${index}]`;
    const route = checker.object(item, routeKey, ROUTE_KEYS);
    const path = checker.string(route.path, `${routeKey}.path`);
    if (!path.startsWith('/') && path !== '*')
      checker.fail(`${routeKey}.path`, 'must start with / (or be *)');
    let methods: string[] = [];
    if (route.methods !== undefined) {
      if (!Array.isArray(route.methods) || route.methods.length === 0) {
        checker.fail(
          `${routeKey}.methods`,
          `must be a non-empty array of HTTP methods (value was ${describe(route.methods)})`,
        );
      }
      methods = route.methods.map((method: unknown, i: number) => {
        if (typeof method !== 'string' || !KNOWN_METHODS.has(method)) {
          checker.fail(
            `${routeKey}.methods[${i}]`,
            `must be an upper-case HTTP method (value was ${describe(method)})`,
          );
        }
        return method;
      });
    }
    const upstreams = checker.upstreams(route.upstreams, `${routeKey}.upstreams`);
    const balance = checker.balance(route.balance, `${routeKey}.balance`);
    try {
      router.on((methods.length === 0 ? METHODS : methods) as never, path, noop);
    } catch (err) {
      checker.fail(`${routeKey}.path`, (err as Error).message);
    }
    routes.push({ path, methods, upstreams, balance });
  });
  return routes;
}
