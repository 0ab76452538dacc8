import type { InfrastructureSpec } from '@nodix/deployer';

// The same two targets, both on this machine (what `npm start` deploys to). They share one address, so what
// must not collide gets its own port per target: the agent (agentPort) and the proxy (proxyPort, and proxyTlsPort
// for HTTPS when services-https.ts gives the web apps certificates). Everything
// binds to 127.0.0.1 only, which exists on every OS without setup and exposes nothing to the network.
export default {
  test1: {
    properties: {
      hostname: '127.0.0.1',
      capacity: 10,
      agentPort: 7411,
      proxyPort: 8081,
      proxyTlsPort: 8441,
      bindHost: '127.0.0.1',
    },
  },
  test2: {
    properties: {
      hostname: '127.0.0.1',
      capacity: 10,
      agentPort: 7412,
      proxyPort: 8082,
      proxyTlsPort: 8442,
      bindHost: '127.0.0.1',
    },
  },
} satisfies InfrastructureSpec;
