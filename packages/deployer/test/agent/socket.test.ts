import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { createAgent } from '../../src/agent/server.js';
import { AGENT_SOCKET_FILE, EXIT_NO_AGENT } from '../../src/agent/socket.js';
import { runCli } from '../commands/run-cli.js';
import { tempDir } from './helpers.js';

// The agent on a Unix socket (clientInterface 'ssh'), and `nodix agent connect`, the relay ssh runs on the target.
const NODIX = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'nodix.js');

/** Runs the built `nodix agent connect ...` with `input` on stdin; its exit code and output. */
function connect(
  args: string[],
  input: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [NODIX, 'agent', 'connect', ...args], { stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

const HEALTH = 'GET /v1/health HTTP/1.1\r\nHost: nodix-agent\r\nConnection: close\r\n\r\n';

t.test(
  'a socket agent: 0600 socket in its state dir, found by agent connect --state-dir, no token',
  async (t) => {
    const stateDir = join(await tempDir(t), 'state');
    const socket = join(stateDir, AGENT_SOCKET_FILE);
    const agent = await createAgent({ host: '127.0.0.1', port: 0, stateDir, socket, log: () => {} });
    let closed = false;
    t.teardown(async () => {
      if (!closed) await agent.close();
    });
    t.equal(agent.url, `unix:${socket}`);
    t.equal((await stat(socket)).mode & 0o777, 0o600, 'only the agent user may open the socket');
    t.equal((await stat(stateDir)).mode & 0o777, 0o700, 'in a private directory');

    const answer = await connect(['--state-dir', stateDir], HEALTH);
    t.equal(answer.code, 0, answer.stderr);
    t.match(answer.stdout, /^HTTP\/1\.1 200 OK\r\n/);
    t.match(answer.stdout, /"status":"ok"/);
    const bySocket = await connect(['--socket', socket], HEALTH);
    t.match(bySocket.stdout, /"status":"ok"/, '--socket PATH too');
    // What the coordinator runs once per target before forwarding its connections to the socket over SSH.
    const check = await connect(['--state-dir', stateDir, '--check'], HEALTH);
    t.same(
      check,
      { code: 0, stdout: `${socket}\n`, stderr: '' },
      '--check relays nothing and names the socket',
    );

    await t.rejects(
      createAgent({
        host: '127.0.0.1',
        port: 0,
        stateDir: join(stateDir, '..', 'other'),
        socket,
        log: () => {},
      }),
      { code: 'NODIX_ERR_AGENT_CONFIG', message: `agent: --socket ${socket}: another agent listens on it` },
    );
    await agent.close();
    closed = true;
    await t.rejects(stat(socket), { code: 'ENOENT' }, 'the socket goes with the agent');
  },
);

t.test('agent connect without an agent: one line and its own exit code', async (t) => {
  const stateDir = await tempDir(t);
  const answer = await connect(['--state-dir', stateDir], HEALTH);
  t.equal(answer.code, EXIT_NO_AGENT);
  t.equal(
    answer.stderr,
    `nodix: no nodix agent is running on this machine (socket ${join(stateDir, AGENT_SOCKET_FILE)}): start it with systemctl start nodix-agent or nodix agent --socket ${join(stateDir, AGENT_SOCKET_FILE)} --state-dir DIR\n`,
  );
  t.equal(answer.stdout, '');
  const check = await connect(['--state-dir', stateDir, '--check'], '');
  t.same([check.code, check.stdout], [EXIT_NO_AGENT, ''], '--check fails the same way');
});

t.test('--socket does not go with a TCP address or a token', async (t) => {
  const stateDir = await tempDir(t);
  const result = await runCli(
    ['agent', '--state-dir', stateDir, '--socket', 'default', '--listen', '0.0.0.0:7411'],
    stateDir,
  );
  t.equal(result.code, 2);
  t.match(result.stderr, /^nodix: agent: --listen does not go with --socket/);
});
