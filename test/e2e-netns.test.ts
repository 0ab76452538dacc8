import t from 'tap';
import { netnsMachines } from './helpers/machines.js';
import { runScenarios } from './helpers/scenarios.js';

// The README's scenarios on three machines: network namespaces test1, test2 and client (see helpers/netns.ts).
// Without root or iproute2 this fails with a message saying so: it is never skipped.
t.setTimeout(600_000);

const machines = await netnsMachines();
t.teardown(() => machines.destroy());
await runScenarios(t, machines);
