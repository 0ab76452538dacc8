import t from 'tap';
import { classifySshFailure } from '../../src/execute/ssh.js';

// ssh's stderr and exit codes as OpenSSH 9 writes them, and what the user is told: one table.
t.test('failures of the SSH layer are told apart', async (t) => {
  const context = { destination: 'deploy@web1', remoteCommand: 'nodix agent connect', established: false };
  const cases: Array<[string, number, string, string, RegExp, boolean?]> = [
    [
      'host key changed',
      255,
      '@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@@@@@\nHost key verification failed.\n',
      'NODIX_ERR_SSH_HOST_KEY',
      /^host key of deploy@web1 does not match known_hosts/,
    ],
    [
      'host key unknown',
      255,
      'No ED25519 host key is known for web1 and you have requested strict checking.\nHost key verification failed.\n',
      'NODIX_ERR_SSH_HOST_KEY',
      /^host key of deploy@web1 is not in known_hosts/,
    ],
    [
      'login refused',
      255,
      'deploy@web1: Permission denied (publickey).\n',
      'NODIX_ERR_SSH_AUTH',
      /^permission denied logging in to deploy@web1/,
    ],
    [
      'refused',
      255,
      'ssh: connect to host web1 port 22: Connection refused\n',
      'NODIX_ERR_SSH_UNREACHABLE',
      /^cannot reach deploy@web1 over SSH \(ssh: connect to host web1 port 22: Connection refused\)/,
    ],
    [
      'no such host',
      255,
      'ssh: Could not resolve hostname web1: Name or service not known\n',
      'NODIX_ERR_SSH_UNREACHABLE',
      /^cannot reach/,
    ],
    [
      'timed out before any connection',
      255,
      'ssh: connect to host web1 port 22: Connection timed out\n',
      'NODIX_ERR_SSH_UNREACHABLE',
      /^cannot reach/,
    ],
    [
      'lost after connecting',
      255,
      'Timeout, server web1 not responding.\n',
      'NODIX_ERR_SSH_LOST',
      /^connection to deploy@web1 lost/,
      true,
    ],
    [
      'nodix missing',
      127,
      'bash: line 1: nodix: command not found\n',
      'NODIX_ERR_NODIX_MISSING',
      /^nodix is not installed on deploy@web1 \('nodix agent connect': command not found\)/,
    ],
    [
      'agent not running',
      69,
      'nodix: no nodix agent is running on this machine (socket /var/lib/nodix/agent.sock): start it with systemctl start nodix-agent\n',
      'NODIX_ERR_AGENT_NOT_RUNNING',
      /^no nodix agent is running on deploy@web1 \(socket \/var\/lib\/nodix\/agent\.sock\): start it/,
    ],
    [
      'socket not ours',
      77,
      "nodix: cannot open the nodix agent's socket /s: permission denied (log in as the agent's user)\n",
      'NODIX_ERR_AGENT_SOCKET_DENIED',
      /permission denied/,
    ],
    [
      'anything else',
      1,
      'something odd\n',
      'NODIX_ERR_SSH_REMOTE',
      /^ssh to deploy@web1 failed \(exit code 1: something odd\)/,
    ],
  ];
  for (const [name, code, stderr, expected, message, established] of cases) {
    const error = classifySshFailure(code, stderr, { ...context, established: established ?? false });
    t.equal(error.code, expected, `${name}: code`);
    t.match(error.message, message, `${name}: message`);
    t.notMatch(error.message, /\n/, `${name}: one line`);
  }
});
