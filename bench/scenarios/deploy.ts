/**
 * Issue 5: `nodix deploy` of the 20-webapp virtualhosts example (services-dynamic.ts with count 20, qos.ts's
 * distribution, assigned ports) to two agents on loopback, from nothing, against starting the same 20 nodix-webapp
 * and 2 nodix-proxy processes directly (target <= 1.5x); plus a redeploy with nothing changed (which must contact
 * no agent and no service) and one that changes a single webapp. Run by `lib/deploy-scenario.ts`.
 */
import type { DeployScenario, DeploySshScenario } from './types.js';

export const deployScenarios: DeployScenario[] = [
  {
    kind: 'deploy',
    name: 'deploy',
    issue: 5,
    description:
      'nodix deploy of the 20-webapp example to 2 agents on loopback vs starting the same 22 processes directly; redeploys with nothing changed and with one webapp changed',
    webapps: 20,
    targets: ['test1', 'test2'],
    maxRatio: 1.5,
  },
];

/**
 * Issue 13: the same 20-webapp deploy to two targets in network namespaces, over SSH (the system's OpenSSH, an sshd
 * per target, the agents on Unix sockets) against over the HTTP agent in the same namespaces (target <= 1.3x); a
 * redeploy with nothing changed must open no SSH connection. Run by `lib/deploy-ssh-scenario.ts`.
 */
export const deploySshScenarios: DeploySshScenario[] = [
  {
    kind: 'deploy-ssh',
    name: 'deploy-ssh',
    issue: 13,
    description:
      'nodix deploy of the 20-webapp example to 2 targets in network namespaces over SSH (sshd, agents on Unix sockets) vs over the HTTP agent in the same namespaces; a redeploy with nothing changed opens no SSH connection',
    webapps: 20,
    maxRatio: 1.3,
  },
];
