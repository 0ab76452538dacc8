/**
 * Issue 4: planning must stay near-linear. The virtualhosts example's own models (services-dynamic.ts with
 * `count`, qos.ts: greedy by capacity plus one proxy per target) at 100, 1 000 and 10 000 web apps on 100 targets.
 */
import type { PlanningScenario } from './types.js';

export const planningScenarios: PlanningScenario[] = [
  {
    kind: 'planning',
    name: 'planning',
    issue: 4,
    description:
      'gendist, port-assign and manifest of the virtualhosts example at 100, 1 000 and 10 000 web apps on 100 targets',
    serviceCounts: [100, 1000, 10_000],
    targets: 100,
  },
];
