/**
 * V8 settings of a nodix-proxy process. Applied by the bin only: a library user (a test, the deployer's agent
 * running createProxy in-process) owns its process and its flags. README "Memory" has the measurements.
 *
 * 1. A young generation of 2 MB semispaces. Under sustained load V8 doubles the semispaces (the young generation
 *    is two of them) whenever the bytes that survived scavenges since the last growth exceed their size: the
 *    objects of in-flight requests survive every scavenge, so a busy proxy always ends at the maximum, 16 MB, i.e.
 *    32 MB of young generation, all of it touched. Since the fast path parses a repeated head once, a GET leaves
 *    little garbage, and 2 MB costs no measurable CPU against 4 MB (A/B, 6 rounds, 28-40 µs per request either
 *    way) while it lowers the peak RSS by 3-5 MB for GETs and by 10 MB for 64 KB POSTs: V8 also scavenges when
 *    the young generation's ArrayBuffers (the socket reads that carried request bodies) pile up, and fewer of
 *    them wait for it with the smaller young generation (100 -> 90 MB). `node --max-semi-space-size=2` would say this, but that flag is only read
 *    when node starts, and supervisors start the bin as `node nodix-proxy.js`. What V8 reads at every growth is
 *    `--semi-space-growth-factor`, so the bin steers that: no growth while it starts (module loading and the
 *    first table build, which would otherwise push a 10 000-host table's process straight to 16 MB), then growth
 *    up to 2 MB and none beyond, for as long as the process serves.
 *
 * 2. `--heap-growing-percent=50`. After each full GC V8 lets the old generation grow to up to 4x what survived
 *    before the next one (the factor rises with how fast the GC is compared to the program, and for a heap this
 *    small it is fast). Under load the old generation fills with promoted garbage: the objects of requests that
 *    were in flight across two scavenges, dead soon after. A 10 000-host table (~16 MB live) was seen at 66 MB of
 *    old generation before its next full GC. With the factor at 1.5 (V8 still adds at least 8 MB of room plus the
 *    young generation's size), a full GC runs every 10-20 s under load instead of never, each taking a few ms with
 *    incremental marking: no measurable CPU per request.
 *
 * Flags given on the command line or in NODE_OPTIONS win: with one of them, that setting is left alone.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** The semispace size the young generation is held at once serving, MB. */
export const SERVING_SEMI_SPACE_MB = 2;
/** Old generation growth between full GCs, percent of what survived the last one. */
export const HEAP_GROWING_PERCENT = 50;

const MB = 1024 * 1024;

function givenOnCommandLine(flag: RegExp): boolean {
  const nodeOptions = (process.env.NODE_OPTIONS ?? '').split(/\s+/);
  return process.execArgv.some((arg) => flag.test(arg)) || nodeOptions.some((arg) => flag.test(arg));
}

const OLD_GENERATION_FLAGS = /^--heap[-_]growing[-_]percent/;
const YOUNG_GENERATION_FLAGS =
  /^--(min|max)[-_]semi[-_]space[-_]size|^--semi[-_]space[-_]growth[-_]factor|^--max[-_]heap[-_]size/;

/** Semispace capacity now, MB (V8 reports the new space as both semispaces together, once both are in use). */
export function semiSpaceMb(): number {
  const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  return space === undefined ? 0 : space.space_size / 2 / MB;
}

let managingYoungGeneration = false;

/**
 * Called first thing by the bin (after its imports: V8 checks its flags against the code cache of Node's built-in
 * modules, so changing them earlier makes those compile from source).
 */
export function applyStartupV8Settings(): void {
  if (!givenOnCommandLine(OLD_GENERATION_FLAGS))
    setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  if (!givenOnCommandLine(YOUNG_GENERATION_FLAGS)) {
    managingYoungGeneration = true;
    setFlagsFromString('--semi-space-growth-factor=1');
  }
}

/**
 * Called by the bin once the proxy listens: from now on the young generation may grow (V8's doubling) while its
 * semispaces are below `targetMb`, and not beyond. V8 also shrinks them again when allocation slows down (an idle
 * proxy), so this is not a one-time switch: a GC observer looks after every GC and sets the growth factor to 2
 * below the target and to 1 at it. One step cannot overshoot: V8 grows only at a scavenge, and only once more
 * bytes than the current size survived scavenges since the last step, which takes many scavenges, never one
 * event-loop turn. At the target the observer is off and a timer looks four times a second whether V8 shrank
 * the semispaces (then growth is allowed, and observed, again).
 */
export function startServingV8Settings(targetMb = SERVING_SEMI_SPACE_MB): void {
  if (!managingYoungGeneration) return;
  managingYoungGeneration = false;
  let growing: boolean | null = null;
  const steer = () => {
    const grow = semiSpaceMb() < targetMb;
    if (grow === growing) return;
    growing = grow;
    setFlagsFromString(`--semi-space-growth-factor=${grow ? 2 : 1}`);
    // Every GC is watched only while the young generation may grow (the step to stop at must not be missed); at
    // the target it cannot grow, and a look four times a second sees V8 shrink it. Observing every GC under load
    // (a scavenge every few hundred requests: a gc entry, the callback, a heap-statistics read) cost ~1% of a busy
    // proxy's CPU.
    if (grow) observer.observe({ entryTypes: ['gc'] });
    else observer.disconnect();
  };
  const observer = new PerformanceObserver(steer);
  setInterval(steer, SHRINK_CHECK_MS).unref();
  steer();
}

/** How often the young generation is looked at while it is at its target size, ms. */
const SHRINK_CHECK_MS = 250;
