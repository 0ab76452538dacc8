import { ModelError } from '../errors.js';
import { naturalSort } from '../plan/natural-sort.js';
import { type AgentAddress, DEFAULT_AGENT_PORT } from '../plan/types.js';
import { describeValue, isPort, isRecord, nameProblem } from './describe.js';
import { checkTargetAcme } from './tls.js';
import type { Infrastructure, Target, TargetProperties } from './types.js';

const STRING_PROPERTIES = ['hostname', 'agentHost', 'bindHost', 'nodixCommand'] as const;

/**
 * `[user@]host[:port]`: a user and host that cannot be read as an ssh option (no leading `-`), a host name, an
 * ssh_config alias or an address (`[v6]` when a port follows).
 */
const SSH_TARGET =
  /^(?:([A-Za-z0-9._][A-Za-z0-9._-]*)@)?([A-Za-z0-9_][A-Za-z0-9._-]*|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/;

export interface SshTargetParts {
  user?: string;
  host: string;
  port?: number;
}

/** Splits a checked `sshTarget`; undefined when it is not of the form `[user@]host[:port]`. */
export function parseSshTarget(value: string): SshTargetParts | undefined {
  const match = SSH_TARGET.exec(value);
  if (!match) return undefined;
  const port = match[3] === undefined ? undefined : Number(match[3]);
  if (port !== undefined && !isPort(port)) return undefined;
  return {
    ...(match[1] === undefined ? {} : { user: match[1] }),
    host: (match[2] as string).replace(/^\[(.*)\]$/, '$1'),
    ...(port === undefined ? {} : { port }),
  };
}

/** Type-checks the properties that say how the coordinator reaches the target (`clientInterface` and SSH's). */
function checkClientInterface(file: string, name: string, properties: Record<string, unknown>): void {
  const key = (property: string) => `${name}.properties.${property}`;
  const { clientInterface, sshTarget, agentSocket, sshOptions } = properties;
  if (clientInterface !== undefined && clientInterface !== 'ssh' && clientInterface !== 'http') {
    throw new ModelError(
      file,
      key('clientInterface'),
      `must be 'ssh' or 'http', got ${describeValue(clientInterface)}`,
    );
  }
  if (sshTarget !== undefined && (typeof sshTarget !== 'string' || !parseSshTarget(sshTarget))) {
    throw new ModelError(
      file,
      key('sshTarget'),
      `must be [user@]host[:port] (for example deploy@web1.example.org:22), got ${describeValue(sshTarget)}`,
    );
  }
  if (clientInterface === 'ssh' && sshTarget === undefined) {
    const host = properties.hostname ?? name;
    if (typeof host !== 'string' || !parseSshTarget(host)) {
      throw new ModelError(
        file,
        key('sshTarget'),
        `is needed: hostname ${describeValue(host)} is not an ssh host`,
      );
    }
  }
  if (agentSocket !== undefined && (typeof agentSocket !== 'string' || !agentSocket.startsWith('/'))) {
    throw new ModelError(
      file,
      key('agentSocket'),
      `must be an absolute path on the target, got ${describeValue(agentSocket)}`,
    );
  }
  if (sshOptions !== undefined) {
    const bad = Array.isArray(sshOptions)
      ? sshOptions.findIndex(
          (option) => typeof option !== 'string' || !/^[A-Za-z][A-Za-z0-9]*[= ]\S/.test(option),
        )
      : -1;
    if (!Array.isArray(sshOptions) || bad >= 0) {
      throw new ModelError(
        file,
        Array.isArray(sshOptions) ? `${key('sshOptions')}[${bad}]` : key('sshOptions'),
        `must be an array of ssh options such as 'ProxyJump=bastion', got ${describeValue(Array.isArray(sshOptions) ? sshOptions[bad] : sshOptions)}`,
      );
    }
  }
}
const PORT_PROPERTIES = ['agentPort', 'proxyPort', 'proxyTlsPort'] as const;

/**
 * Checks an evaluated infrastructure model and returns it with every target's `name` filled in, targets in
 * natural order. Properties nodix reads itself (hostname, agent and proxy addresses) are type-checked here, once.
 */
export function normalizeInfrastructure(spec: unknown, file: string): Infrastructure {
  if (!isRecord(spec)) {
    throw new ModelError(
      file,
      undefined,
      `must define an object of targets (name -> { properties }), got ${describeValue(spec)}`,
    );
  }
  const infrastructure: Infrastructure = {};
  for (const name of naturalSort(Object.keys(spec))) {
    const problem = nameProblem(name);
    if (problem) throw new ModelError(file, JSON.stringify(name), `target name ${problem}`);
    const raw = spec[name];
    if (!isRecord(raw)) {
      throw new ModelError(file, name, `must be an object with \`properties\`, got ${describeValue(raw)}`);
    }
    if (raw.name !== undefined && raw.name !== name) {
      throw new ModelError(
        file,
        `${name}.name`,
        `is ${describeValue(raw.name)}, must equal its key '${name}'`,
      );
    }
    const properties = raw.properties ?? {};
    if (!isRecord(properties)) {
      throw new ModelError(file, `${name}.properties`, `must be an object, got ${describeValue(properties)}`);
    }
    for (const key of STRING_PROPERTIES) {
      const value = properties[key];
      if (value !== undefined && (typeof value !== 'string' || value === '')) {
        throw new ModelError(
          file,
          `${name}.properties.${key}`,
          `must be a non-empty string, got ${describeValue(value)}`,
        );
      }
    }
    for (const key of PORT_PROPERTIES) {
      const value = properties[key];
      if (value !== undefined && !isPort(value)) {
        throw new ModelError(
          file,
          `${name}.properties.${key}`,
          `must be a port number (1-65535), got ${describeValue(value)}`,
        );
      }
    }
    checkClientInterface(file, name, properties);
    checkTargetAcme(properties, name, file);
    const target: Target = { ...raw, name, properties: { ...(properties as TargetProperties) } };
    infrastructure[name] = target;
  }
  return infrastructure;
}

/** How others reach a target: property `hostname`, else the target's name. */
export function targetHostname(target: Target): string {
  return target.properties.hostname ?? target.name;
}

/** How the coordinator reaches a target's agent, from its (checked) properties; see `TargetProperties`. */
export function agentAddressOf(target: Target): AgentAddress {
  const { clientInterface, sshTarget, agentHost, agentPort, nodixCommand, agentSocket, sshOptions } =
    target.properties;
  if (clientInterface === 'ssh' || (clientInterface === undefined && sshTarget !== undefined)) {
    return {
      clientInterface: 'ssh',
      sshTarget: sshTarget ?? targetHostname(target),
      ...(nodixCommand === undefined ? {} : { nodixCommand }),
      ...(agentSocket === undefined ? {} : { agentSocket }),
      ...(sshOptions === undefined ? {} : { sshOptions: [...sshOptions] }),
    };
  }
  return { host: agentHost ?? targetHostname(target), port: agentPort ?? DEFAULT_AGENT_PORT };
}
