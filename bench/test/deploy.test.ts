import type { Manifest } from '@nodix/deployer';
import t from 'tap';
import {
  deployFigures,
  deploySshFigures,
  parseCoordinatorOutput,
  type ServiceSnapshot,
  summarizeContacts,
  totalContacts,
  type UnchangedObservation,
  unchangedProblems,
} from '../lib/deploy-figures.js';
import { comparableArgv, directCommands } from '../lib/deploy-models.js';
import type {
  DeployContacts,
  DeployRound,
  DeploySshRound,
  DeployTransportRound,
} from '../lib/result-types.js';

t.test('coordinator output: touched targets, nothing to do, step times, agent actions', async (t) => {
  const fresh = parseCoordinatorOutput(
    [
      '[coordinator] +0.000s nodix deploy started at 2026-01-01T00:00:00.000Z (state /tmp/c)',
      '[coordinator] +0.512s built manifests: 2 target(s), 22 service(s) (431 ms)',
      '[coordinator] +0.520s plan from generation 0 to the new manifest (1 ms):',
      '[coordinator] +0.520s   test1: add webapp1, proxy-test1',
      '[target: test1] +0.700s activated webapp1: started (pid 10, port 3000) in 120 ms',
      '[target: test2] +0.710s activated webapp11: started (pid 11, port 3010) in 130 ms',
      '[coordinator] +1.900s activate: 22 service(s) in 1350 ms',
      '[coordinator] +1.950s generation 1 is current',
    ].join('\n'),
  );
  t.same(fresh.touchedTargets, ['test1', 'test2']);
  t.equal(fresh.nothingToDo, false);
  t.equal(fresh.buildMs, 431);
  t.equal(fresh.activateMs, 1350);
  t.equal(fresh.deactivateMs, undefined);
  t.same(fresh.actions, ['test1: activated webapp1 (started)', 'test2: activated webapp11 (started)']);

  const unchanged = parseCoordinatorOutput(
    [
      '[coordinator] +0.400s built manifests: 2 target(s), 22 service(s) (380 ms)',
      '[coordinator] +0.401s plan from generation 1 to the new manifest (1 ms):',
      '[coordinator] +0.401s   untouched: test1, test2',
      '[coordinator] +0.405s nothing to activate or deactivate; generation 1 is current',
    ].join('\n'),
  );
  t.same(unchanged.touchedTargets, [], 'a plan line naming targets is no step on them');
  t.equal(unchanged.nothingToDo, true);

  const one = parseCoordinatorOutput(
    [
      '[target: test2] +0.6s deactivated webapp20: stopped (15 ms)',
      '[coordinator] +0.6s deactivate: 1 service(s) in 15 ms',
      '[target: test2] +0.8s activated webapp20: started (pid 12, port 3019) in 150 ms',
      '[target: test2] +0.9s activated proxy-test2: reloaded (pid 13, port 8082) in 20 ms',
    ].join('\n'),
  );
  t.same(one.touchedTargets, ['test2']);
  t.equal(one.deactivateMs, 15);
  t.same(one.actions, [
    'test2: deactivated webapp20 (stopped)',
    'test2: activated webapp20 (started)',
    'test2: activated proxy-test2 (reloaded)',
  ]);
});

t.test('contacts: agents by port, everything else apart, Unix sockets not counted', async (t) => {
  const contacts = summarizeContacts(
    {
      connections: {
        'tcp 127.0.0.1:7411': 3,
        'tcp 127.0.0.1:7412': 1,
        'tcp 127.0.0.1:3005': 1,
        'failed tcp 127.0.0.1:7412 (ECONNREFUSED)': 1,
        'failed local /tmp/tsx-0/1.pipe (ENOENT)': 1,
      },
      requests: { '127.0.0.1:7411': 5, '127.0.0.1:3005': 2 },
    },
    { test1: 7411, test2: 7412 },
  );
  t.same(contacts, {
    agentRequests: { test1: 5 },
    agentConnections: { test1: 3, test2: 1 },
    other: {
      'connection tcp 127.0.0.1:3005': 1,
      'connection failed tcp 127.0.0.1:7412 (ECONNREFUSED)': 1,
      'request 127.0.0.1:3005': 2,
    },
    local: { 'failed local /tmp/tsx-0/1.pipe (ENOENT)': 1 },
  });
  t.equal(totalContacts(contacts), 13);
  const silent = summarizeContacts(
    { connections: { 'failed local /tmp/tsx-0/1.pipe (ENOENT)': 1 }, requests: {} },
    { test1: 7411 },
  );
  t.equal(totalContacts(silent), 0, 'a redeploy that only looked for a tsx parent contacted nobody');
});

t.test('the unchanged redeploy: every sign of a contact is a problem', async (t) => {
  const none: DeployContacts = { agentRequests: {}, agentConnections: {}, other: {}, local: {} };
  const service = (pid: number, extra: Partial<ServiceSnapshot> = {}): ServiceSnapshot => ({
    target: 'test1',
    pid,
    startTime: '100',
    hash: 'h',
    restarts: 0,
    state: 'running',
    ...extra,
  });
  const quiet = (): UnchangedObservation => ({
    contacts: { ...none, local: { 'failed local /tmp/tsx-0/1.pipe (ENOENT)': 1 } },
    output: parseCoordinatorOutput(
      '[coordinator] +0.4s nothing to activate or deactivate; generation 1 is current',
    ),
    agentLines: [
      [5, 7],
      [5, 7],
    ],
    stateMtimes: [
      [1, 2],
      [1, 2],
    ],
    services: [new Map([['webapp1', service(10)]]), new Map([['webapp1', service(10)]])],
  });
  t.same(unchangedProblems(quiet()), [], 'nothing reached: no problem');
  const cases: [string, (seen: UnchangedObservation) => void, RegExp][] = [
    [
      'a request',
      (s) => {
        s.contacts = { ...none, agentRequests: { test1: 1 } };
      },
      /connections or requests/,
    ],
    [
      'a service port',
      (s) => {
        s.contacts = { ...none, other: { 'connection tcp 127.0.0.1:3000': 1 } };
      },
      /connections or requests/,
    ],
    [
      'work to do',
      (s) => {
        s.output = parseCoordinatorOutput('');
      },
      /nothing to activate/,
    ],
    [
      'a target step',
      (s) => {
        s.output.touchedTargets = ['test2'];
      },
      /steps on test2/,
    ],
    [
      'an agent line',
      (s) => {
        s.agentLines[1] = [5, 8];
      },
      /logged/,
    ],
    [
      'a state write',
      (s) => {
        s.stateMtimes[1] = [1, 3];
      },
      /state file/,
    ],
    [
      'a new PID',
      (s) => {
        s.services[1].set('webapp1', service(11));
      },
      /new process \(pid 10 → 11\)/,
    ],
    [
      'a reused PID',
      (s) => {
        s.services[1].set('webapp1', service(10, { startTime: '200' }));
      },
      /new process/,
    ],
    [
      'a gone service',
      (s) => {
        s.services[1].delete('webapp1');
      },
      /→ gone/,
    ],
    [
      'a new identity',
      (s) => {
        s.services[1].set('webapp1', service(10, { hash: 'x' }));
      },
      /identity/,
    ],
    [
      'a restart',
      (s) => {
        s.services[1].set('webapp1', service(10, { restarts: 1 }));
      },
      /restarted/,
    ],
    [
      'a new service',
      (s) => {
        s.services[1].set('webapp2', service(12));
      },
      /webapp2 appeared/,
    ],
  ];
  for (const [name, change, expected] of cases) {
    const seen = quiet();
    change(seen);
    t.match(unchangedProblems(seen).join('; '), expected, name);
  }
});

function round(directMs: number, deployMs: number, unchangedRequests = 0): DeployRound {
  const none: DeployContacts = { agentRequests: {}, agentConnections: {}, other: {}, local: {} };
  return {
    directMs,
    deployMs,
    unchangedMs: 300,
    oneWebappMs: 600,
    undeployMs: 400,
    deployBuildMs: 100,
    deployActivateMs: 1000,
    contacts: {
      deploy: { ...none, agentRequests: { test1: 13, test2: 13 } },
      unchanged: unchangedRequests ? { ...none, agentRequests: { test1: unchangedRequests } } : none,
      oneWebapp: none,
      undeploy: none,
    },
    oneWebappActions: [],
    oneWebappNewPids: ['webapp20'],
  };
}

t.test('figures: median of same-round ratios against 1.5x, judged in full mode only', async (t) => {
  const rounds = [round(1000, 1400), round(2000, 2600), round(1000, 2000)];
  const full = deployFigures(rounds, { maxRatio: 1.5, judge: true, changedWebapp: 'webapp20' });
  const ratio = full.find((f) => f.metric === 'deployOverDirect')!;
  t.same(ratio.perRound, [1.4, 1.3, 2]);
  t.equal(ratio.value, 1.4);
  t.equal(ratio.verdict, 'PASS');
  t.equal(full.find((f) => f.metric === 'directMs')?.value, 1000);
  t.equal(full.find((f) => f.metric === 'oneWebappMs')?.label, 'redeploy, webapp20 changed');
  t.equal(full.find((f) => f.metric === 'unchangedContacts')?.verdict, 'PASS');

  const slow = deployFigures([round(1000, 1600)], { maxRatio: 1.5, judge: true, changedWebapp: 'w' });
  t.equal(slow.find((f) => f.metric === 'deployOverDirect')?.verdict, 'MISS');
  const quick = deployFigures([round(1000, 1600)], { maxRatio: 1.5, judge: false, changedWebapp: 'w' });
  t.equal(quick.find((f) => f.metric === 'deployOverDirect')?.verdict, 'n/a', 'quick mode judges no timing');

  const contacted = deployFigures([round(1000, 1200), round(1000, 1200, 2)], {
    maxRatio: 1.5,
    judge: true,
    changedWebapp: 'w',
  });
  const contacts = contacted.find((f) => f.metric === 'unchangedContacts')!;
  t.equal(contacts.value, 2, 'the worst round counts');
  t.equal(contacts.verdict, 'MISS');
  t.same(deployFigures([], { maxRatio: 1.5, judge: true, changedWebapp: 'w' }), []);
});

t.test('direct commands: what the agents run, from the manifest', async (t) => {
  const routes = { version: 1, hosts: { 'webapp1.local': { upstreams: ['http://127.0.0.1:3000'] } } };
  const manifest = {
    version: 1,
    targets: {
      test1: {
        name: 'test1',
        properties: {},
        agent: { host: '127.0.0.1', port: 7411 },
        services: {
          webapp1: {
            name: 'webapp1',
            type: 'webapp',
            target: 'test1',
            hash: 'a',
            config: { dnsName: 'webapp1.local', port: 3000, bindHost: '127.0.0.1' },
            dependsOn: [],
            connectsTo: [],
          },
          'proxy-test1': {
            name: 'proxy-test1',
            type: 'proxy',
            target: 'test1',
            hash: 'b',
            config: { port: 8081, bindHost: '127.0.0.1' },
            dependsOn: [],
            connectsTo: [],
            routes,
          },
        },
      },
    },
  } as unknown as Manifest;
  const commands = directCommands(manifest, '/tmp/direct');
  t.equal(commands.length, 2);
  const [webapp, proxy] = commands;
  t.match(webapp?.args[0], /packages\/webapp\/bin\/nodix-webapp\.js$/);
  t.same(webapp?.args.slice(1), ['--name', 'webapp1.local', '--port', '3000', '--host', '127.0.0.1']);
  t.same(webapp?.env, { NODIX_SERVICE: 'webapp1' });
  t.ok(webapp?.ready.test('webapp1.local listening on 127.0.0.1:3000'));
  t.equal(proxy?.args[0], '--max-semi-space-size=2');
  t.match(proxy?.args[1], /packages\/proxy\/bin\/nodix-proxy\.js$/);
  t.same(proxy?.args.slice(2), [
    '--listen',
    '127.0.0.1:8081',
    '--admin-listen',
    '127.0.0.1:0',
    '--routes',
    '/tmp/direct/proxy-test1/routes.json',
  ]);
  t.same(proxy?.routes, routes);
  t.ok(proxy?.ready.test('nodix-proxy listening on 127.0.0.1:8081 (admin 127.0.0.1:40001)'));
  t.same(comparableArgv(['node', 'p.js', '--routes', '/a/routes.json', '--x']), [
    'node',
    'p.js',
    '--routes',
    '<routes.json>',
    '--x',
  ]);
  const other = structuredClone(manifest) as unknown as { targets: { test1: { services: object } } };
  other.targets.test1.services = { db: { name: 'db', type: 'process', config: {} } };
  t.throws(() => directCommands(other as unknown as Manifest, '/tmp'), /no direct command for db/);
});

t.test(
  'deploy-ssh figures: same-round ratios SSH / HTTP, judged in full mode; SSH connections of the unchanged redeploy',
  async (t) => {
    const none: DeployContacts = { agentRequests: {}, agentConnections: {}, other: {}, local: {} };
    const transport = (deployMs: number, unchanged: Record<string, number>): DeployTransportRound => ({
      deployMs,
      unchangedMs: 100,
      undeployMs: deployMs / 2,
      sshConnections: { deploy: { test1: 1, test2: 1 }, unchanged, undeploy: { test1: 1, test2: 1 } },
      contacts: { deploy: none, unchanged: none, undeploy: none },
    });
    const rounds: DeploySshRound[] = [
      { ssh: transport(1200, { test1: 0, test2: 0 }), http: transport(1000, {}) },
      { ssh: transport(3000, { test1: 0, test2: 0 }), http: transport(2000, {}) },
      { ssh: transport(1100, { test1: 0, test2: 0 }), http: transport(1000, {}) },
    ];
    const figures = deploySshFigures(rounds, { maxRatio: 1.3, judge: true });
    const ratio = figures.find((f) => f.metric === 'deployMsSshOverHttp');
    t.same(ratio?.perRound, [1.2, 1.5, 1.1]);
    t.equal(ratio?.value, 1.2, 'median of the same-round ratios');
    t.equal(ratio?.verdict, 'PASS');
    t.equal(figures.find((f) => f.metric === 'deployMsSSH')?.value, 1200);
    t.equal(figures.find((f) => f.metric === 'unchangedSshConnections')?.value, 0);
    t.equal(figures.find((f) => f.metric === 'unchangedSshConnections')?.verdict, 'PASS');
    t.equal(figures.find((f) => f.metric === 'deploySshConnectionsPerTarget')?.value, 1);

    const opened = [...rounds, { ssh: transport(2600, { test1: 1, test2: 0 }), http: transport(1000, {}) }];
    const missed = deploySshFigures(opened, { maxRatio: 1.3, judge: true });
    t.equal(missed.find((f) => f.metric === 'unchangedSshConnections')?.verdict, 'MISS');
    t.equal(missed.find((f) => f.metric === 'deployMsSshOverHttp')?.verdict, 'MISS', 'median 1.35');
    t.equal(
      deploySshFigures(rounds, { maxRatio: 1.3, judge: false })[0]?.verdict,
      'n/a',
      'quick mode judges nothing',
    );
    t.same(deploySshFigures([], { maxRatio: 1.3, judge: true }), []);
  },
);
