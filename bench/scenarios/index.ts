/**
 * The scenario table: every benchmark, in the order `npm run bench` runs them. Each entry names the servers to
 * start and the load to apply; see types.ts for the fields and ../README.md for what the figures mean.
 */
import { deployScenarios, deploySshScenarios } from './deploy.js';
import { planningScenarios } from './planning.js';
import { proxyScenarios } from './proxy.js';
import { proxyH2Scenarios } from './proxy-h2.js';
import { proxyVariedScenarios } from './proxy-varied.js';
import type { Scenario } from './types.js';
import { webappScenarios } from './webapp.js';

export const scenarios: Scenario[] = [
  ...webappScenarios, // issue 2
  ...proxyScenarios, // issue 3
  ...planningScenarios, // issue 4
  ...deployScenarios, // issue 5
  ...proxyVariedScenarios, // issue 10
  ...proxyH2Scenarios, // issue 11
  ...deploySshScenarios, // issue 13
];
