/** Issue 2: the webapp must be as fast as the simplest node:http server answering the same bytes. */
import type { HttpScenario } from './types.js';

export const webappScenarios: HttpScenario[] = [
  {
    kind: 'http',
    name: 'webapp',
    issue: 2,
    description: 'nodix-webapp vs a bare node:http server answering the same bytes (webapp1.local\\n)',
    backends: [],
    setups: [
      { name: 'bare-http', server: { kind: 'bare-http', name: 'webapp1.local' } },
      { name: 'nodix-webapp', server: { kind: 'nodix-webapp', name: 'webapp1.local' } },
    ],
    load: {
      connections: 100,
      hosts: ['webapp1.local'],
      method: 'GET',
      bodyBytes: 0,
      expectBody: 'webapp1.local\n',
    },
    figures: [
      {
        kind: 'ratio',
        label: 'throughput nodix-webapp / bare-http',
        metric: 'requestsPerSecond',
        of: 'nodix-webapp',
        over: 'bare-http',
        target: { min: 0.95 },
      },
      {
        kind: 'ratio',
        label: 'p99 latency nodix-webapp / bare-http',
        metric: 'latencyP99Ms',
        of: 'nodix-webapp',
        over: 'bare-http',
      },
      {
        kind: 'ratio',
        label: 'CPU per request nodix-webapp / bare-http',
        metric: 'cpuMicrosPerRequest',
        of: 'nodix-webapp',
        over: 'bare-http',
      },
    ],
  },
];
