import type { InfrastructureSpec } from '@nodix/deployer';

// Three machines reachable by name, for `nodix self-adapt` (the README's walkthrough and the end-to-end test): six
// web apps of weight 1 fill two per machine, and when one machine goes away its two fit on the other two.
export default {
  test1: { properties: { hostname: 'test1', capacity: 3 } },
  test2: { properties: { hostname: 'test2', capacity: 3 } },
  test3: { properties: { hostname: 'test3', capacity: 3 } },
} satisfies InfrastructureSpec;
