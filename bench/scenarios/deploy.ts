/**
 * Issue 5's deploy scenarios go here: deploying the 20-webapp example from nothing vs starting the same processes
 * directly (target <= 1.5x), a redeploy with nothing changed, and one that changes a single webapp.
 *
 * Intentionally empty: the lead adds these once `nodix deploy` exists. They will need a runner of their own
 * (`kind: 'deploy'` in types.ts, timing a deploy rather than applying an HTTP load), dispatched in ../run.ts.
 */
import type { Scenario } from './types.js';

export const deployScenarios: Scenario[] = [];
