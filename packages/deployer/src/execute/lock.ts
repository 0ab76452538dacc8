import { LockedError } from '../agent/errors.js';
import { NodixError } from '../errors.js';
import type { Reporter } from './report.js';
import type { AgentClient } from './transport.js';

export const DEFAULT_LOCK_TTL_MS = 120_000;

export interface HeldLocks {
  /** Releases every lock (also when some releases fail: each failure is reported, none stops the others). */
  release(): Promise<void>;
}

/**
 * Locks every target of a deployment, all or nothing: the locks are taken in parallel, and if one is refused the
 * ones taken are released before the error (naming the holder) is thrown. While held, locks are renewed every third
 * of their lifetime, so a long deployment keeps them and a coordinator that died frees them when they expire.
 */
export async function lockTargets(
  clients: AgentClient[],
  owner: string,
  reporter: Reporter,
  ttlMs = DEFAULT_LOCK_TTL_MS,
): Promise<HeldLocks> {
  const start = reporter.now();
  const results = await Promise.allSettled(clients.map((client) => client.lock(owner, ttlMs)));
  const taken = clients.filter((_, index) => results[index]?.status === 'fulfilled');
  const release = async () => {
    await Promise.all(
      taken.map(async (client) => {
        try {
          await client.unlock(owner);
        } catch (error) {
          reporter.step(client.target, `warning: could not unlock: ${(error as Error).message}`);
        }
      }),
    );
  };
  const failures = results.flatMap((result, index) =>
    result.status === 'rejected'
      ? [{ client: clients[index] as AgentClient, error: result.reason as Error }]
      : [],
  );
  if (failures.length > 0) {
    await release();
    const [first] = failures;
    const { client, error } = first as (typeof failures)[number];
    if (error instanceof LockedError) {
      throw new NodixError(`lock: target ${client.target} is ${error.message.replace(/^target \S+: /, '')}`, {
        code: 'NODIX_ERR_LOCKED',
        exitCode: 1,
        cause: error,
      });
    }
    throw error;
  }
  reporter.step(
    undefined,
    `locked ${clients.map((client) => client.target).join(', ')} (${reporter.since(start)} ms)`,
  );
  const timer = setInterval(
    () => {
      for (const client of taken) {
        client.lock(owner, ttlMs).catch((error: Error) => {
          reporter.step(client.target, `warning: could not renew the lock: ${error.message}`);
        });
      }
    },
    Math.max(ttlMs / 3, 1000),
  );
  timer.unref();
  return {
    async release() {
      clearInterval(timer);
      const unlockStart = reporter.now();
      await release();
      reporter.step(
        undefined,
        `unlocked ${taken.map((client) => client.target).join(', ')} (${reporter.since(unlockStart)} ms)`,
      );
    },
  };
}
