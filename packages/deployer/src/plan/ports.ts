import { ModelError, PortPoolExhaustedError, UsageError } from '../errors.js';
import { describeValue, isPort, isRecord } from '../models/describe.js';
import type { CheckedServices } from '../models/services.js';
import type { Distribution } from '../models/types.js';
import { naturalCompare, naturalSort, sortKeysNaturally } from './natural-sort.js';
import { DEFAULT_PROXY_PORT } from './types.js';

export interface PortRange {
  min: number;
  max: number;
}

export const DEFAULT_SHARED_RANGE: Readonly<PortRange> = { min: 3000, max: 4000 };
export const DEFAULT_PRIVATE_RANGE: Readonly<PortRange> = { min: 8000, max: 9000 };

export interface PortPoolState {
  /** The last port handed out; the next search starts right after it (and wraps around). */
  lastPort: number | null;
  /** Service name to port. */
  assignments: Record<string, number>;
}

/**
 * What `nodix port-assign` writes and reads back with `-p`: `ports` is what the services model receives; the pools
 * hold what the next run needs so that no assignment moves.
 */
export interface PortsFile {
  ports: Record<string, number>;
  shared: PortRange & PortPoolState;
  private: PortRange & { targets: Record<string, PortPoolState> };
}

/** A service that asks for a port (`portAssign`), with the targets it is placed on. */
export interface PortRequest {
  name: string;
  pool: 'shared' | 'private';
  targets: string[];
}

/** A service with a port of its own: that port is not handed out to anyone else on its targets. */
export interface FixedPort {
  name: string;
  port: number;
  targets: string[];
}

export interface AssignPortsInput {
  requests: PortRequest[];
  fixed?: FixedPort[];
  previous?: PortsFile;
  /** Defaults: the previous file's range, else 3000-4000 (shared) and 8000-9000 (private). */
  sharedRange?: PortRange;
  privateRange?: PortRange;
}

/** One pool of ports: which are taken, and where the last search stopped. */
class Pool {
  readonly taken = new Map<number, string>();
  readonly size: number;

  constructor(
    readonly label: string,
    readonly range: PortRange,
    public lastPort: number | null,
  ) {
    this.size = range.max - range.min + 1;
  }

  contains(port: number): boolean {
    return port >= this.range.min && port <= this.range.max;
  }

  isFree(port: number): boolean {
    return !this.taken.has(port);
  }

  take(port: number, owner: string): void {
    if (this.contains(port)) this.taken.set(port, owner);
  }

  /** Where the next search starts: right after the last port handed out, wrapping around. */
  start(): number {
    const last = this.lastPort;
    if (last === null || last < this.range.min || last >= this.range.max) return this.range.min;
    return last + 1;
  }
}

/**
 * Assigns a port to every request. Previous assignments that still fit never move; services that are gone lose
 * theirs; new ones get, in natural order, the first free port after the pool's last assigned port, wrapping around.
 * A full pool is an error, found by counting, never by searching forever.
 */
export function assignPorts({
  requests,
  fixed = [],
  previous,
  sharedRange,
  privateRange,
}: AssignPortsInput): PortsFile {
  const shared =
    sharedRange ?? (previous ? { min: previous.shared.min, max: previous.shared.max } : DEFAULT_SHARED_RANGE);
  const perTarget =
    privateRange ??
    (previous ? { min: previous.private.min, max: previous.private.max } : DEFAULT_PRIVATE_RANGE);
  checkRanges(shared, perTarget);

  const sharedPool = new Pool(
    `shared port pool ${shared.min}-${shared.max}`,
    shared,
    previous?.shared.lastPort ?? null,
  );
  const privatePools = new Map<string, Pool>();
  const privatePool = (target: string): Pool => {
    let pool = privatePools.get(target);
    if (pool === undefined) {
      const last = previous?.private.targets[target]?.lastPort ?? null;
      pool = new Pool(
        `private port pool ${perTarget.min}-${perTarget.max} of target '${target}'`,
        perTarget,
        last,
      );
      privatePools.set(target, pool);
    }
    return pool;
  };

  // Ports services chose themselves are never handed out on their targets.
  for (const { name, port, targets } of fixed) {
    sharedPool.take(port, name);
    for (const target of targets) privatePool(target).take(port, name);
  }

  const sorted = requests
    .filter((request) => request.targets.length > 0)
    .sort((a, b) => naturalCompare(a.name, b.name));
  const ports = new Map<string, number>();
  const pending: PortRequest[] = [];

  // Keep what was assigned before, in natural order so that a conflict is resolved the same way on every run.
  for (const request of sorted) {
    const kept =
      request.pool === 'shared'
        ? keepShared(request, sharedPool, previous)
        : keepPrivate(request, privatePool, previous);
    if (kept === undefined) pending.push(request);
    else ports.set(request.name, kept);
  }

  for (const request of pending) {
    if (request.pool === 'shared') {
      const port = nextFree([sharedPool], request.name);
      sharedPool.take(port, request.name);
      sharedPool.lastPort = port;
      ports.set(request.name, port);
    } else {
      const pools = request.targets.map(privatePool);
      const port = nextFree(pools, request.name);
      for (const pool of pools) {
        pool.take(port, request.name);
        pool.lastPort = port;
      }
      ports.set(request.name, port);
    }
  }

  const byName = new Map(sorted.map((request) => [request.name, request]));
  const sharedAssignments: Record<string, number> = {};
  const privateTargets: Record<string, PortPoolState> = {};
  // Targets that had a private pool before keep their position even when nothing is assigned there now.
  for (const target of Object.keys(previous?.private.targets ?? {})) privatePool(target);
  for (const target of naturalSort(privatePools.keys())) {
    privateTargets[target] = { lastPort: (privatePools.get(target) as Pool).lastPort, assignments: {} };
  }
  const privateInUse = new Set(
    sorted.filter((r) => r.pool === 'private' && ports.has(r.name)).flatMap((r) => r.targets),
  );
  for (const name of naturalSort(ports.keys())) {
    const request = byName.get(name) as PortRequest;
    const port = ports.get(name) as number;
    if (request.pool === 'shared') sharedAssignments[name] = port;
    else
      for (const target of request.targets)
        (privateTargets[target] as PortPoolState).assignments[name] = port;
  }
  // Pools that never handed out a port (only reservations) are left out: they carry nothing for the next run.
  for (const target of Object.keys(privateTargets)) {
    if (privateTargets[target]?.lastPort === null && !privateInUse.has(target)) delete privateTargets[target];
  }
  return {
    ports: Object.fromEntries(naturalSort(ports.keys()).map((name) => [name, ports.get(name) as number])),
    shared: { ...shared, lastPort: sharedPool.lastPort, assignments: sharedAssignments },
    private: { ...perTarget, targets: privateTargets },
  };
}

function keepShared(request: PortRequest, pool: Pool, previous: PortsFile | undefined): number | undefined {
  const port = previous?.shared.assignments[request.name] ?? previous?.ports[request.name];
  if (port === undefined || !pool.contains(port) || !pool.isFree(port)) return undefined;
  pool.take(port, request.name);
  return port;
}

function keepPrivate(
  request: PortRequest,
  poolOf: (target: string) => Pool,
  previous: PortsFile | undefined,
): number | undefined {
  if (previous === undefined) return undefined;
  // A service on several targets has one port, free on all of them; try what it had, lowest first.
  const candidates = new Set<number>();
  for (const target of request.targets) {
    const port = previous.private.targets[target]?.assignments[request.name];
    if (port !== undefined) candidates.add(port);
  }
  const fallback = previous.ports[request.name];
  if (candidates.size === 0 && fallback !== undefined) candidates.add(fallback);
  const pools = request.targets.map(poolOf);
  for (const port of [...candidates].sort((a, b) => a - b)) {
    if (pools.every((pool) => pool.contains(port) && pool.isFree(port))) {
      for (const pool of pools) pool.take(port, request.name);
      return port;
    }
  }
  return undefined;
}

/**
 * The first port free in every pool, starting after the furthest last-assigned port and wrapping around once.
 * A pool already full is reported before searching, so the search itself is bounded by the pool size.
 */
function nextFree(pools: Pool[], service: string): number {
  const first = pools[0] as Pool;
  for (const pool of pools) {
    if (pool.taken.size >= pool.size) throw exhausted(pool, service);
  }
  let port = Math.max(...pools.map((pool) => pool.start()));
  for (let step = 0; step < first.size; step++) {
    if (pools.every((pool) => pool.isFree(port))) return port;
    port = port >= first.range.max ? first.range.min : port + 1;
  }
  // Every pool has room, but no single port is free on all of them at once.
  throw new PortPoolExhaustedError(
    `no port is free on all of ${pools.map((pool) => pool.label.replace(/.*of target /, '')).join(', ')} at once for '${service}' (private pools ${first.range.min}-${first.range.max}); widen the range with --private-range`,
    first.label,
  );
}

function exhausted(pool: Pool, service: string): PortPoolExhaustedError {
  const option = pool.label.startsWith('shared') ? '--shared-range' : '--private-range';
  return new PortPoolExhaustedError(
    `the ${pool.label} is full: no port left for '${service}' (${pool.taken.size} of ${pool.size} in use); widen it with ${option}`,
    pool.label,
  );
}

function checkRanges(shared: PortRange, perTarget: PortRange): void {
  for (const [label, range] of [
    ['shared', shared],
    ['private', perTarget],
  ] as const) {
    if (!isPort(range.min) || !isPort(range.max) || range.min > range.max) {
      throw new UsageError(
        `the ${label} port range ${range.min}-${range.max} is not a range of ports (1-65535, min <= max)`,
      );
    }
  }
  if (shared.min <= perTarget.max && perTarget.min <= shared.max) {
    throw new UsageError(
      `the shared port range ${shared.min}-${shared.max} overlaps the private range ${perTarget.min}-${perTarget.max}; a port could then be handed out twice`,
    );
  }
}

/** Parses `MIN-MAX` from the command line. */
export function parsePortRange(text: string, option: string): PortRange {
  const match = /^(\d+)-(\d+)$/.exec(text.trim());
  const range = match ? { min: Number(match[1]), max: Number(match[2]) } : undefined;
  if (!range || !isPort(range.min) || !isPort(range.max) || range.min > range.max) {
    throw new UsageError(`${option}: '${text}' is not a port range; write it as MIN-MAX, e.g. 3000-4000`);
  }
  return range;
}

/**
 * Checks a ports file (`-p`). The pool sections are optional so that a hand-written `{ "ports": { ... } }` works;
 * its ports are then kept like previous assignments.
 */
export function parsePortsFile(json: unknown, file: string): PortsFile {
  if (!isRecord(json))
    throw new ModelError(file, undefined, `must be an object with \`ports\`, got ${describeValue(json)}`);
  const ports = portMap(json.ports, file, 'ports');
  const shared = json.shared === undefined ? undefined : pool(json.shared, file, 'shared');
  let privatePools: PortsFile['private'] | undefined;
  if (json.private !== undefined) {
    if (!isRecord(json.private))
      throw new ModelError(file, 'private', `must be an object, got ${describeValue(json.private)}`);
    const range = poolRange(json.private, file, 'private');
    const targets: Record<string, PortPoolState> = {};
    const rawTargets = json.private.targets ?? {};
    if (!isRecord(rawTargets)) {
      throw new ModelError(file, 'private.targets', `must be an object, got ${describeValue(rawTargets)}`);
    }
    for (const [target, state] of Object.entries(rawTargets)) {
      const key = `private.targets.${target}`;
      if (!isRecord(state)) throw new ModelError(file, key, `must be an object, got ${describeValue(state)}`);
      targets[target] = {
        lastPort: lastPort(state.lastPort, file, key),
        assignments: portMap(state.assignments ?? {}, file, `${key}.assignments`),
      };
    }
    privatePools = { ...range, targets };
  }
  return {
    ports,
    shared: shared ?? { ...DEFAULT_SHARED_RANGE, lastPort: null, assignments: {} },
    private: privatePools ?? { ...DEFAULT_PRIVATE_RANGE, targets: {} },
  };
}

function pool(value: unknown, file: string, key: string): PortRange & PortPoolState {
  if (!isRecord(value)) throw new ModelError(file, key, `must be an object, got ${describeValue(value)}`);
  return {
    ...poolRange(value, file, key),
    lastPort: lastPort(value.lastPort, file, key),
    assignments: portMap(value.assignments ?? {}, file, `${key}.assignments`),
  };
}

function poolRange(value: Record<string, unknown>, file: string, key: string): PortRange {
  for (const bound of ['min', 'max'] as const) {
    if (!isPort(value[bound])) {
      throw new ModelError(
        file,
        `${key}.${bound}`,
        `must be a port number (1-65535), got ${describeValue(value[bound])}`,
      );
    }
  }
  return { min: value.min as number, max: value.max as number };
}

function lastPort(value: unknown, file: string, key: string): number | null {
  if (value === undefined || value === null) return null;
  if (!isPort(value))
    throw new ModelError(
      file,
      `${key}.lastPort`,
      `must be a port number or null, got ${describeValue(value)}`,
    );
  return value;
}

function portMap(value: unknown, file: string, key: string): Record<string, number> {
  if (!isRecord(value))
    throw new ModelError(file, key, `must be an object of service -> port, got ${describeValue(value)}`);
  for (const [name, port] of Object.entries(value)) {
    if (!isPort(port))
      throw new ModelError(
        file,
        `${key}.${name}`,
        `must be a port number (1-65535), got ${describeValue(port)}`,
      );
  }
  return sortKeysNaturally(value as Record<string, number>);
}

/**
 * What `assignPorts` needs from the models: every placed service with `portAssign` asks for a port; every placed
 * service with a port of its own (a proxy: its target's `proxyPort`, default 80) keeps others off that port.
 */
export function portRequests(
  services: CheckedServices,
  distribution: Distribution,
): { requests: PortRequest[]; fixed: FixedPort[] } {
  const requests: PortRequest[] = [];
  const fixed: FixedPort[] = [];
  for (const [name, targets] of Object.entries(distribution)) {
    const spec = services.specs.get(name);
    if (spec === undefined || targets.length === 0) continue;
    const { port, portAssign } = spec.properties;
    const targetNames = targets.map((target) => target.name);
    // portAssign first: a model that writes `port: ports.webapp1` has last run's port here, which is a request.
    if (portAssign === 'shared' || portAssign === 'private') {
      requests.push({ name, pool: portAssign, targets: targetNames });
    } else if (typeof port === 'number') {
      fixed.push({ name, port, targets: targetNames });
    } else if (spec.type === 'proxy') {
      for (const target of targets) {
        fixed.push({ name, port: target.properties.proxyPort ?? DEFAULT_PROXY_PORT, targets: [target.name] });
      }
    }
    if (spec.type === 'proxy') {
      // The TLS port, when the model names one: never handed to a service on that target either.
      for (const target of targets) {
        const tlsPort = spec.properties.tlsPort ?? target.properties.proxyTlsPort;
        if (typeof tlsPort === 'number') fixed.push({ name, port: tlsPort, targets: [target.name] });
      }
    }
  }
  return { requests, fixed };
}
