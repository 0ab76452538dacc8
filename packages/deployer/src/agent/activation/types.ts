import type { ServiceInstance } from '../../plan/types.js';
import type { Problem } from '../validate.js';

/** How one service is run: what the supervisor spawns and how it knows the service is ready. */
export interface LaunchSpec {
  /** Executable; `process.execPath` for the workspace's own bins. */
  command: string;
  args: string[];
  /** Added to the agent's environment. */
  env: Record<string, string>;
  /** Addresses the service binds: each must be free before it starts, and each must accept connections to be ready. */
  listens: Array<{ host: string; port: number }>;
  /**
   * Without any address to probe (a `process` with no port), the service counts as ready once it has stayed alive
   * this long.
   */
  settleMs?: number;
  /**
   * A line the service prints (to its log) once ready. Waited for first, woken by writes to the log, and then each
   * of `listens` must accept a connection. Its match is handed to `onReady`, which may read addresses the service
   * chose itself (the proxy's admin port 0). Without it, the ports are probed until they accept.
   */
  readyLine?: RegExp;
}

export interface ActivationContext {
  /** `<state-dir>/services/<name>`, created before `prepare`; a module keeps its files (route table) here. */
  serviceDir: string;
  /** Listen address for services whose config names none (agent option `--service-host`). */
  defaultHost: string;
  /** Values kept in the state file for this service (the proxy's admin port); a module may set them in `prepare`. */
  runtime: Record<string, unknown>;
}

/**
 * An activation module knows one service `type`: it checks an instance's config (a bad one is the coordinator's
 * 400, not a crash at start), says how to run it, and may take some changes without a restart.
 */
export interface ActivationModule {
  readonly type: string;
  check(instance: ServiceInstance): Problem;
  /** The port reported by `nodix query`. */
  port(instance: ServiceInstance): number | undefined;
  /** Writes what the service reads at start; runs before every start, restarts after a crash included. */
  prepare?(instance: ServiceInstance, context: ActivationContext): Promise<void>;
  launch(instance: ServiceInstance, context: ActivationContext): LaunchSpec;
  /** Called with the match of `readyLine` once the service is ready; may record values in `context.runtime`. */
  onReady?(match: RegExpExecArray, context: ActivationContext): void;
  /** True when the running `current` becomes `next` by `update`, without a restart. */
  canUpdate?(current: ServiceInstance, next: ServiceInstance): boolean;
  update?(next: ServiceInstance, context: ActivationContext, pid: number): Promise<void>;
}

/** Listen host of a service: its `bindHost` (as the manifest resolves it) or `host` config, else the agent's default. */
export function listenHost(instance: ServiceInstance, context: ActivationContext): string {
  for (const host of [instance.config.bindHost, instance.config.host]) {
    if (typeof host === 'string' && host !== '') return host;
  }
  return context.defaultHost;
}

/** JSON with sorted keys: two values are equal exactly when their canonical texts are. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (inner && typeof inner === 'object' && !Array.isArray(inner)) {
      return Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return inner;
  });
}
