import t from 'tap';
import { loopbackMachines } from './helpers/machines.js';
import { runScenarios } from './helpers/scenarios.js';

// The same scenarios with both targets on 127.0.0.1 (distinct agent and proxy ports), as `npm start` runs them.
t.setTimeout(600_000);

const machines = await loopbackMachines();
t.teardown(() => machines.destroy());
await runScenarios(t, machines);
