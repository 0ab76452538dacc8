/**
 * find-my-way, loaded the first time a table has path routes. Most tables (the deployer's among them) route by
 * host only, and a proxy that never needs a path router should not carry the module in every process.
 */
import { createRequire } from 'node:module';
import type FindMyWay from 'find-my-way';

const require = createRequire(import.meta.url);
let loaded: typeof FindMyWay | null = null;

/** A new find-my-way router (default options). */
export function createPathRouter(): ReturnType<typeof FindMyWay> {
  loaded ??= require('find-my-way') as typeof FindMyWay;
  return loaded();
}
