import { readFile } from 'node:fs/promises';
import t from 'tap';
import { type Infrastructure, runHttpsScenarios } from './helpers/https-scenarios.js';
import { loopbackMachines } from './helpers/machines.js';

// The HTTPS example on two targets on loopback: each target's proxy gets a TLS port next to its plain one
// (loopbackMachines keeps base..base+9 for agents and proxies; the proxies are on base+2 and base+3).
t.setTimeout(300_000);

const machines = await loopbackMachines();
t.teardown(() => machines.destroy());
const infrastructure = JSON.parse(await readFile(machines.infrastructure, 'utf8')) as Infrastructure;
for (const target of Object.values(infrastructure)) {
  target.properties.proxyTlsPort = (target.properties.proxyPort as number) + 2;
}
const port = (target: string, key: string) => infrastructure[target]?.properties[key] as number;
await runHttpsScenarios(t, machines, {
  infrastructure,
  proxyHost: () => '127.0.0.1',
  ports: (target) => ({ http: port(target, 'proxyPort'), tls: port(target, 'proxyTlsPort') }),
});
