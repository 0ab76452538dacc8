import { availableParallelism, freemem, hostname, totalmem, uptime } from 'node:os';
import type { FactsResponse } from './api.js';

/**
 * What a target says about itself (Disnix's capture-infra asks the same of every machine): read fresh on every
 * request, from `node:os` only, so answering costs nothing and needs no state.
 */
export function captureFacts(version: string): FactsResponse {
  return {
    hostname: hostname(),
    cpus: availableParallelism(),
    memoryBytes: totalmem(),
    freeMemoryBytes: freemem(),
    platform: process.platform,
    arch: process.arch,
    node: process.version,
    nodix: version,
    systemUptimeSeconds: Math.round(uptime()),
  };
}
