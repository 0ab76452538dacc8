import t from 'tap';
import { runHttpsScenarios } from './helpers/https-scenarios.js';
import { netnsMachines } from './helpers/machines.js';

// The HTTPS example on the machines of its infrastructure.ts, network namespaces test1 and test2 (and a client):
// the proxies on 80 and, by default, 443. Without root or iproute2 this fails with a message saying so.
t.setTimeout(300_000);

const machines = await netnsMachines();
t.teardown(() => machines.destroy());
await runHttpsScenarios(t, machines, {
  infrastructure: {
    test1: { properties: { hostname: 'test1', capacity: 10 } },
    test2: { properties: { hostname: 'test2', capacity: 10 } },
  },
  proxyHost: (target) => target,
  ports: () => ({ http: 80, tls: 443 }),
});
