import t from 'tap';
import type { ActivationModule } from '../../src/agent/activation/index.js';
import { proxyModule } from '../../src/agent/activation/proxy.js';
import { webappModule } from '../../src/agent/activation/webapp.js';
import { StateStore } from '../../src/agent/state.js';
import { Supervisor } from '../../src/agent/supervisor.js';
import type { ServiceInstance } from '../../src/plan/types.js';
import { httpGet, killGroup, servicePort, tempDir } from './helpers.js';

/**
 * Services that print a ready line are waited for by watching their log: the line, then their port accepting a
 * connection. `behaviour` is the script's body, given PORT; `ready` prints the line.
 */
const PRELUDE = "const port = +process.env.PORT; const ready = () => console.log('liner ready on ' + port);";

function linerModule(onReady: (match: RegExpExecArray) => void): ActivationModule {
  return {
    type: 'liner',
    check: () => undefined,
    port: (instance) => instance.config.port as number,
    launch(instance) {
      return {
        command: process.execPath,
        args: ['-e', `${PRELUDE}\n${instance.config.script as string}`],
        env: { PORT: String(instance.config.port) },
        listens: [{ host: '127.0.0.1', port: instance.config.port as number }],
        readyLine: /liner ready on (\d+)$/m,
      };
    },
    onReady: (match) => onReady(match),
  };
}

function liner(name: string, port: number, script: string): ServiceInstance {
  return {
    name,
    type: 'liner',
    target: 'test1',
    hash: `${name}-${port}`,
    config: { port, script },
    dependsOn: [],
    connectsTo: [],
  };
}

const SERVE = "require('http').createServer((q, s) => s.end('hi')).listen(port, '127.0.0.1', ready);";

t.test('a service that prints a ready line: the line, then its port accepting', async (t) => {
  const matches: string[] = [];
  const supervisor = new Supervisor({
    store: await StateStore.open(await tempDir(t)),
    modules: new Map([['liner', linerModule((match) => matches.push(match[1] ?? ''))]]),
    defaultHost: '127.0.0.1',
    log: () => {},
  });
  await supervisor.start();
  t.teardown(async () => {
    for (const service of supervisor.list()) killGroup(service.pid);
    await supervisor.close();
  });

  // Some output first, then the line only after a while: the later write is the one that wakes the agent.
  const slow = await servicePort();
  const started = await supervisor.activate(
    liner('slow', slow, `console.log('starting'); setTimeout(() => { ${SERVE} }, 300);`),
    30_000,
  );
  t.equal(started.action, 'started');
  t.equal(started.status.state, 'running');
  t.equal(await httpGet(slow), 'hi');
  t.same(matches, [String(slow)], 'onReady gets the match of the line');

  // Exits without the line: reported as an exit (with its code), not after the 30 s timeout as a timeout.
  await t.rejects(supervisor.activate(liner('quits', await servicePort(), 'process.exit(3);'), 30_000), {
    message: /^quits exited before it was ready \(exit code 3\)/,
  });

  // Says it is ready but never listens: not ready, and nothing of it is left.
  await t.rejects(
    supervisor.activate(liner('liar', await servicePort(), 'ready(); setInterval(() => {}, 1000);'), 1500),
    { message: /^liar was not ready within 1500 ms/ },
  );
  t.same(
    supervisor.list().map((service) => service.name),
    ['slow'],
  );
});

t.test(
  'webapps are waited for by their ready line; proxies run with a capped young generation',
  async (t) => {
    const context = { serviceDir: '/tmp/x', defaultHost: '127.0.0.1', runtime: { adminPort: 0 } };
    const webapp = webappModule.launch(
      {
        name: 'webapp1',
        type: 'webapp',
        target: 'test1',
        hash: 'h',
        config: { dnsName: 'webapp1.local', port: 3001 },
        dependsOn: [],
        connectsTo: [],
      },
      context,
    );
    t.ok(webapp.readyLine?.test('--- agent header\nwebapp1.local listening on 127.0.0.1:3001\n'));
    t.notOk(webapp.readyLine?.test('webapp1.local starting\n'));

    const proxy = proxyModule.launch(
      {
        name: 'proxy-test1',
        type: 'proxy',
        target: 'test1',
        hash: 'p',
        config: { port: 8080 },
        dependsOn: [],
        connectsTo: [],
        routes: { version: 1, hosts: {} },
      },
      context,
    );
    t.equal(proxy.command, process.execPath);
    t.equal(proxy.args[0], '--max-semi-space-size=2', 'a node option, before the bin');
    t.match(proxy.args[1], /nodix-proxy\.js$/);
  },
);
