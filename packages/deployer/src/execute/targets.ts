import type { Infrastructure } from '../models/types.js';
import { type AgentAddress, DEFAULT_AGENT_PORT, type Manifest } from '../plan/types.js';
import { AgentClient } from './transport.js';

/** Where a target's agent listens: property `agentHost` else `hostname` else the target's name; `agentPort` else 7411. */
export function agentAddressOf(target: { name: string; properties: Record<string, unknown> }): AgentAddress {
  const { agentHost, hostname, agentPort } = target.properties;
  return {
    host: typeof agentHost === 'string' ? agentHost : typeof hostname === 'string' ? hostname : target.name,
    port: typeof agentPort === 'number' ? agentPort : DEFAULT_AGENT_PORT,
  };
}

export function agentAddressesOf(infrastructure: Infrastructure): Map<string, AgentAddress> {
  return new Map(Object.values(infrastructure).map((target) => [target.name, agentAddressOf(target)]));
}

/** Agent addresses of every target of the given manifests, the first manifest naming a target winning. */
export function agentAddressesOfManifests(...manifests: Manifest[]): Map<string, AgentAddress> {
  const addresses = new Map<string, AgentAddress>();
  for (const manifest of manifests) {
    for (const [name, target] of Object.entries(manifest.targets)) {
      if (!addresses.has(name)) addresses.set(name, target.agent);
    }
  }
  return addresses;
}

/** One client per target, created on first use and closed together. */
export class AgentClients {
  readonly #clients = new Map<string, AgentClient>();
  readonly #token: string | undefined;

  constructor(token: string | undefined) {
    this.#token = token;
  }

  get(target: string, address: AgentAddress): AgentClient {
    let client = this.#clients.get(target);
    if (!client) {
      client = new AgentClient({ target, address, token: this.#token });
      this.#clients.set(target, client);
    }
    return client;
  }

  close(): void {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }
}
