import type { InfrastructureSpec } from '@nodix/deployer';

// Two machines, reachable by name (e.g. the `test1` and `test2` network namespaces of the end-to-end tests).
// `capacity` is what qos.ts divides the web apps' `weight` over.
export default {
  test1: { properties: { hostname: 'test1', capacity: 10 } },
  test2: { properties: { hostname: 'test2', capacity: 10 } },
} satisfies InfrastructureSpec;
