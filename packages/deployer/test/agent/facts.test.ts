import { availableParallelism, hostname, totalmem } from 'node:os';
import t from 'tap';
import { createAgent } from '../../src/agent/server.js';
import { AgentClient } from '../../src/execute/transport.js';
import { api, newToken, tempDir } from './helpers.js';

t.test('GET /v1/facts: the machine as node:os sees it, behind the token like every endpoint', async (t) => {
  const token = newToken();
  const agent = await createAgent({
    host: '127.0.0.1',
    port: 0,
    stateDir: await tempDir(t),
    token,
    log: () => {},
  });
  t.teardown(() => agent.close());

  for (const presented of [undefined, 'wrong']) {
    const refused = await api(agent.url, 'GET', '/v1/facts', { token: presented });
    t.equal(refused.status, 401, `refused with ${presented ?? 'no token'}`);
    t.notMatch(JSON.stringify(refused.body), hostname(), 'and tells nothing');
  }
  t.equal((await api(agent.url, 'POST', '/v1/facts', { token, body: {} })).status, 405, 'GET only');

  const client = new AgentClient({ target: 'here', address: { host: '127.0.0.1', port: agent.port }, token });
  t.teardown(() => client.close());
  const facts = await client.facts();
  t.equal(facts.hostname, hostname());
  t.equal(facts.cpus, availableParallelism());
  t.equal(facts.memoryBytes, totalmem());
  t.equal(facts.node, process.version);
  t.match(facts.nodix, /^\d+\.\d+\.\d+/);
  t.ok(facts.freeMemoryBytes > 0 && facts.freeMemoryBytes <= facts.memoryBytes);
});

t.test('facts(timeoutMs) gives up on a silent agent within its own limit', async (t) => {
  // A listener that accepts and never answers: the probe must fail with the agent's name, not hang for 5 s+.
  const { createServer } = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((socket) => sockets.add(socket)).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const port = (server.address() as import('node:net').AddressInfo).port;
  const client = new AgentClient({ target: 'mute', address: { host: '127.0.0.1', port }, token: 'x' });
  t.teardown(() => client.close());
  await t.rejects(client.facts(200), {
    code: 'NODIX_ERR_AGENT_UNREACHABLE',
    message: /target mute: .*ETIMEDOUT/,
  });
});
