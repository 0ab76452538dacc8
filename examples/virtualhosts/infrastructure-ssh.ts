import type { InfrastructureSpec } from '@nodix/deployer';

// The same two machines as infrastructure.ts, reached over SSH (clientInterface 'ssh', Disnix's default): the
// coordinator runs `ssh nodix@test1 nodix agent connect`, which relays to the agent's Unix socket
// (`nodix agent --state-dir /var/lib/nodix --socket default`). No agent port, no token: the SSH login authenticates.
// Over HTTP instead (infrastructure.ts): `nodix agent --listen 0.0.0.0:7411 --token-file ...` and `--token-file` on
// the coordinator.
export default {
  test1: { properties: { hostname: 'test1', capacity: 10, sshTarget: 'nodix@test1' } },
  test2: { properties: { hostname: 'test2', capacity: 10, sshTarget: 'nodix@test2:22' } },
} satisfies InfrastructureSpec;
