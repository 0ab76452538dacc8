import { LockedError, type LockHolder } from './errors.js';

/**
 * The deploy lock of one target, as pure functions over the lock value: one coordinator at a time changes a target.
 * A lock expires so that a coordinator that died does not block the target forever; its holder renews it while it
 * works. Taking the lock again as the same owner renews it.
 */
export const MAX_LOCK_TTL_MS = 24 * 60 * 60 * 1000;

export function activeLock(lock: LockHolder | null, now: number): LockHolder | null {
  return lock && lock.expiresAt > now ? lock : null;
}

export function describeHolder(holder: LockHolder, now: number): string {
  const since = new Date(holder.acquiredAt).toISOString();
  const left = Math.max(0, Math.round((holder.expiresAt - now) / 1000));
  return `${holder.owner} (since ${since}, expires in ${left} s)`;
}

export function acquireLock(lock: LockHolder | null, owner: string, ttlMs: number, now: number): LockHolder {
  const held = activeLock(lock, now);
  if (held && held.owner !== owner) {
    throw new LockedError(`locked by ${describeHolder(held, now)}`, held);
  }
  return { owner, acquiredAt: held ? held.acquiredAt : now, expiresAt: now + ttlMs };
}

/** Returns the lock after release: null, or the unchanged lock of another owner (then it throws). */
export function releaseLock(lock: LockHolder | null, owner: string, now: number): null {
  const held = activeLock(lock, now);
  if (held && held.owner !== owner) {
    throw new LockedError(`cannot unlock: locked by ${describeHolder(held, now)}`, held);
  }
  return null;
}

/** Changes are allowed to the holder, or to anyone while nobody holds the lock (`nodix deploy --no-lock`). */
export function checkMayChange(lock: LockHolder | null, owner: string | undefined, now: number): void {
  const held = activeLock(lock, now);
  if (held && held.owner !== owner) {
    throw new LockedError(`locked by ${describeHolder(held, now)}`, held);
  }
}
