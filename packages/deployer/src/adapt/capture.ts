import type { FactsResponse } from '../agent/api.js';
import { NodixError } from '../errors.js';
import type { AgentClients } from '../execute/targets.js';
import { agentAddressOf } from '../models/infrastructure.js';
import type { Infrastructure, TargetProperties } from '../models/types.js';
import type { AgentAddress } from '../plan/types.js';

/** What `nodix capture-infra` adds to a reachable target's declared properties, under `captured`. */
export interface CapturedFacts extends FactsResponse {
  reachable: true;
}

export interface ReachableTarget {
  agent: AgentAddress;
  /** The declared properties with the captured ones under `captured` (declared ones are never overwritten). */
  properties: TargetProperties & { captured: CapturedFacts };
}

export interface UnreachableTarget {
  agent: AgentAddress;
  properties: TargetProperties;
  error: { code: string; message: string };
}

/** Dynamic Disnix's captured infrastructure: the targets that answered, and apart, those that did not. */
export interface CapturedInfrastructure {
  reachable: Record<string, ReachableTarget>;
  unreachable: Record<string, UnreachableTarget>;
}

/** One probe per target, all at once; `timeoutMs` bounds each, so a dead machine costs one timeout, not five. */
export async function captureInfrastructure(
  infrastructure: Infrastructure,
  clients: AgentClients,
  timeoutMs: number,
): Promise<CapturedInfrastructure> {
  const captured: CapturedInfrastructure = { reachable: {}, unreachable: {} };
  const answers = await Promise.all(
    Object.values(infrastructure).map(async (target) => {
      const agent = agentAddressOf(target);
      try {
        const facts = await clients.get(target.name, agent).facts(timeoutMs);
        return { target, agent, facts };
      } catch (error) {
        const code = error instanceof NodixError ? error.code : 'NODIX_ERR_INTERNAL';
        return { target, agent, error: { code, message: (error as Error).message } };
      }
    }),
  );
  // Promise.all keeps the infrastructure's (natural) order, so the output does not depend on who answered first.
  for (const { target, agent, facts, error } of answers) {
    if (facts) {
      captured.reachable[target.name] = {
        agent,
        properties: { ...target.properties, captured: { ...facts, reachable: true } },
      };
    } else {
      captured.unreachable[target.name] = { agent, properties: target.properties, error: error! };
    }
  }
  return captured;
}
