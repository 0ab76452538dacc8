/**
 * Issue 5: `nodix deploy` of the 20-webapp virtualhosts example (services-dynamic.ts with count 20, qos.ts's
 * distribution, assigned ports) to two agents on loopback, from nothing, against starting the same 20 nodix-webapp
 * and 2 nodix-proxy processes directly (target <= 1.5x); plus a redeploy with nothing changed (which must contact
 * no agent and no service) and one that changes a single webapp. Run by `lib/deploy-scenario.ts`.
 */
import type { DeployScenario } from './types.js';

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
