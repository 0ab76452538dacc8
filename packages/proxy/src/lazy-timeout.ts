/**
 * A timeout that activity pushes back without touching node's timer lists on every push.
 *
 * Why: a keep-alive connection restarts timeouts on every request (the client's keep-alive, the upstream's
 * headers and idle timeouts). `timeout.refresh()` moves node's timer to the end of its list and reads the loop
 * clock each time. Here a restart only stores when the timeout is due; node's timer stays where it is and, when it
 * fires, re-arms itself for what is left, or calls `onTimeout` when nothing pushed it back. A busy connection costs
 * one timer callback per period (seconds) instead of list work per request. A restart that makes the timeout due
 * earlier than node's timer would fire (a shorter duration) re-arms node's timer at once: never late.
 *
 * hot path — `start` is a store and a comparison when node's timer is set; `stop` is one store.
 *
 * Times are performance.now() readings (monotonic milliseconds), which the request path mostly has at hand.
 */
export class LazyTimeout<T> {
  #timer: NodeJS.Timeout | null = null;
  /** When node's timer fires (performance.now() scale); meaningful while #timer is set. */
  #firesAt = 0;
  /** When the timeout is due; Infinity while stopped. */
  #due = Number.POSITIVE_INFINITY;
  readonly #onTimeout: (target: T) => void;
  readonly #target: T;

  /**
   * `onTimeout(target)` runs when a started timeout comes due with no restart or stop in between. A module-level
   * function and a target, rather than a closure: an idle connection then carries no function of its own.
   */
  constructor(onTimeout: (target: T) => void, target: T) {
    this.#onTimeout = onTimeout;
    this.#target = target;
  }

  /** Due `ms` after `now` (performance.now()), replacing any earlier start. */
  start(now: number, ms: number): void {
    const due = now + ms;
    this.#due = due;
    if (this.#timer !== null) {
      if (this.#firesAt <= due) return;
      clearTimeout(this.#timer);
    }
    this.#arm(now, ms);
  }

  /** Not due any more; node's timer, if set, fires once and finds nothing to do. */
  stop(): void {
    this.#due = Number.POSITIVE_INFINITY;
  }

  /** Stopped, and node's timer dropped: for an owner that goes away (the timer would hold it until it fires). */
  clear(): void {
    this.#due = Number.POSITIVE_INFINITY;
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  get running(): boolean {
    return this.#due !== Number.POSITIVE_INFINITY;
  }

  #arm(now: number, ms: number): void {
    // node counts whole milliseconds from the loop's clock, which may lag `now` by the current tick: one more
    // millisecond keeps it from firing before `due` in the usual case, and fired() checks anyway.
    const delay = Math.max(1, Math.ceil(ms) + 1);
    this.#firesAt = now + delay;
    this.#timer = setTimeout(fire, delay, this);
    this.#timer.unref();
  }

  /** node's timer fired. */
  fired(): void {
    this.#timer = null;
    const due = this.#due;
    if (due === Number.POSITIVE_INFINITY) return;
    const now = performance.now();
    if (now < due) {
      this.#arm(now, due - now);
      return;
    }
    this.#due = Number.POSITIVE_INFINITY;
    this.#onTimeout(this.#target);
  }
}

/** One callback for every LazyTimeout's node timer. */
function fire(timeout: { fired(): void }): void {
  timeout.fired();
}
