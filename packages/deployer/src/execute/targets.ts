import { agentAddressOf } from '../models/infrastructure.js';
import type { Infrastructure } from '../models/types.js';
import type { AgentAddress, Manifest } from '../plan/types.js';
import type { SshSettings } from './ssh.js';
import { AgentClient } from './transport.js';

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
  readonly #ssh: SshSettings | undefined;

  constructor(token: string | undefined, ssh?: SshSettings) {
    this.#token = token;
    this.#ssh = ssh;
  }

  get(target: string, address: AgentAddress): AgentClient {
    let client = this.#clients.get(target);
    if (!client) {
      client = new AgentClient({
        target,
        address,
        token: this.#token,
        ...(this.#ssh === undefined ? {} : { ssh: this.#ssh }),
      });
      this.#clients.set(target, client);
    }
    return client;
  }

  /** Closes every client (SSH: every master connection), in parallel. */
  async close(): Promise<void> {
    const clients = [...this.#clients.values()];
    this.#clients.clear();
    await Promise.all(clients.map((client) => client.close()));
  }
}
