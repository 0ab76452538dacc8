import { join } from 'node:path';
import t from 'tap';
import { createAgent } from '../../src/agent/server.js';
import { api, killGroup, newToken, tempDir } from './helpers.js';

// A service that exits at once: whether the agent sees it exit before or after it reads the process's identity
// (a race it used to lose about 4 times in 10 with "could not start /bin/sh: the process exited at once"), the
// answer is the same: the exit code, the last lines of its log, and where that log is on the target.
const TRIES = 12;

const processInstance = (hash: string, config: Record<string, unknown>) => ({
  name: 'svc',
  type: 'process',
  target: 'test1',
  hash,
  config,
  dependsOn: [],
  connectsTo: [],
});

t.test('a service that exits at once: exit code, log tail and log path, every time', async (t) => {
  const stateDir = await tempDir(t);
  const token = newToken();
  const agent = await createAgent({ host: '127.0.0.1', port: 0, stateDir, token, log: () => {} });
  t.teardown(async () => {
    for (const service of agent.supervisor.list()) killGroup(service.pid);
    await agent.close();
  });
  const logFile = join(stateDir, 'logs', 'svc.log');
  const commands: unknown[] = [
    'echo "config missing: /etc/svc.conf" >&2; exit 3',
    ['/bin/sh', '-c', 'exit 3'],
  ];
  for (let i = 0; i < TRIES; i += 1) {
    const command = commands[i % commands.length];
    const answer = await api(agent.url, 'POST', '/v1/activate', {
      token,
      body: { service: processInstance(`h-${i}`, { command, settleMs: 2000 }) },
    });
    t.equal(answer.status, 500, `try ${i}: refused`);
    const message = String(answer.body?.error?.message);
    const expected =
      typeof command === 'string'
        ? `svc exited before it was ready (exit code 3): config missing: /etc/svc.conf (log: ${logFile})`
        : `svc exited before it was ready (exit code 3) (nothing in its log ${logFile})`;
    t.equal(message, expected, `try ${i}`);
  }
  t.same(agent.supervisor.list(), [], 'nothing of it is left');
});

t.test('a command that does not exist: could not start, with the reason', async (t) => {
  const stateDir = await tempDir(t);
  const token = newToken();
  const agent = await createAgent({ host: '127.0.0.1', port: 0, stateDir, token, log: () => {} });
  t.teardown(() => agent.close());
  const answer = await api(agent.url, 'POST', '/v1/activate', {
    token,
    body: { service: processInstance('h', { command: ['/nonexistent/nodix-test-binary'] }) },
  });
  t.equal(answer.status, 500);
  t.match(
    answer.body.error.message,
    /^svc: could not start \/nonexistent\/nodix-test-binary: spawn .* ENOENT/,
  );
});
