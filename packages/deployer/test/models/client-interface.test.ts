import t from 'tap';
import { agentAddressOf, normalizeInfrastructure, parseSshTarget } from '../../src/models/infrastructure.js';

// How a target is reached (Disnix's clientInterface): checked once, one line per mistake naming file, key and value.
t.test(
  'mistakes in clientInterface and the SSH properties are one line naming file, key and value',
  async (t) => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      [
        'an unknown client interface',
        { clientInterface: 'telnet' },
        `infra.ts: test1.properties.clientInterface: must be 'ssh' or 'http', got "telnet"`,
      ],
      [
        'an sshTarget that could be read as an ssh option',
        { sshTarget: '-oProxyCommand=touch /tmp/x' },
        'infra.ts: test1.properties.sshTarget: must be [user@]host[:port] (for example deploy@web1.example.org:22), got "-oProxyCommand=touch /tmp/x"',
      ],
      [
        'a port out of range',
        { sshTarget: 'deploy@web1:70000' },
        'infra.ts: test1.properties.sshTarget: must be [user@]host[:port] (for example deploy@web1.example.org:22), got "deploy@web1:70000"',
      ],
      [
        'a relative agent socket',
        { sshTarget: 'web1', agentSocket: 'agent.sock' },
        'infra.ts: test1.properties.agentSocket: must be an absolute path on the target, got "agent.sock"',
      ],
      [
        'an ssh option that is not OPTION=VALUE',
        { sshTarget: 'web1', sshOptions: ['-v'] },
        `infra.ts: test1.properties.sshOptions[0]: must be an array of ssh options such as 'ProxyJump=bastion', got "-v"`,
      ],
      [
        "clientInterface 'ssh' with a hostname ssh cannot take",
        { clientInterface: 'ssh', hostname: 'a b' },
        `infra.ts: test1.properties.sshTarget: is needed: hostname "a b" is not an ssh host`,
      ],
      [
        'an empty nodixCommand',
        { sshTarget: 'web1', nodixCommand: '' },
        'infra.ts: test1.properties.nodixCommand: must be a non-empty string, got ""',
      ],
    ];
    for (const [name, properties, message] of cases) {
      t.throws(
        () => normalizeInfrastructure({ test1: { properties } }, 'infra.ts'),
        { name: 'ModelError', code: 'NODIX_ERR_MODEL', message },
        name,
      );
    }
  },
);

t.test('the client interface: ssh when sshTarget is given, else http as before', async (t) => {
  const infrastructure = normalizeInfrastructure(
    {
      web1: {
        properties: { sshTarget: 'deploy@web1.example.org:2222', nodixCommand: '/opt/nodix/bin/nodix' },
      },
      web2: { properties: { hostname: 'web2', clientInterface: 'ssh', sshOptions: ['ProxyJump=bastion'] } },
      web3: { properties: { hostname: 'web3', agentPort: 7500 } },
      web4: { properties: { sshTarget: 'web4', clientInterface: 'http' } },
    },
    'infra.ts',
  );
  t.same(agentAddressOf(infrastructure.web1!), {
    clientInterface: 'ssh',
    sshTarget: 'deploy@web1.example.org:2222',
    nodixCommand: '/opt/nodix/bin/nodix',
  });
  t.same(agentAddressOf(infrastructure.web2!), {
    clientInterface: 'ssh',
    sshTarget: 'web2',
    sshOptions: ['ProxyJump=bastion'],
  });
  // Recorded exactly as before, so generations made before SSH existed compare equal.
  t.same(agentAddressOf(infrastructure.web3!), { host: 'web3', port: 7500 });
  t.same(agentAddressOf(infrastructure.web4!), { host: 'web4', port: 7411 }, 'an explicit http wins');
});

t.test('parseSshTarget', async (t) => {
  t.same(parseSshTarget('deploy@web1.example.org:22'), {
    user: 'deploy',
    host: 'web1.example.org',
    port: 22,
  });
  t.same(parseSshTarget('web1'), { host: 'web1' });
  t.same(parseSshTarget('root@[fd00::1]:2200'), { user: 'root', host: 'fd00::1', port: 2200 });
  t.equal(parseSshTarget('user@-host'), undefined);
  t.equal(parseSshTarget('a@b@c'), undefined);
});
