import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { type Agent, createAgent } from '../../src/agent/server.js';
import {
  api,
  httpGet,
  isAlive,
  killGroup,
  mainThreadExitsFirst,
  newToken,
  processService,
  servicePort,
  tempDir,
  waitFor,
  webappService,
} from './helpers.js';

type T = Test;

const fast = { initialBackoffMs: 50, pollMs: 100, stopTimeoutMs: 2000 };

/** An agent on a loopback port 0 whose services are killed in teardown, whatever the test did. */
async function startAgent(
  t: T,
  stateDir: string,
  { token, insecure = false }: { token?: string; insecure?: boolean } = {},
) {
  token ??= insecure ? undefined : newToken();
  const agent = await createAgent({
    host: '127.0.0.1',
    port: 0,
    stateDir,
    token,
    insecure,
    log: () => {},
    supervisor: fast,
  });
  let closed = false;
  t.teardown(async () => {
    for (const service of agent.supervisor.list()) killGroup(service.pid);
    if (!closed) await agent.close();
  });
  return {
    agent,
    token,
    async close() {
      closed = true;
      await agent.close();
    },
  };
}

async function services(agent: Agent, token?: string) {
  const answer = await api(agent.url, 'GET', '/v1/services', { token });
  return answer.body.services as Array<{
    name: string;
    pid: number;
    state: string;
    restarts: number;
    hash: string;
  }>;
}

t.test('refuses to start without a token, except --insecure on loopback', async (t) => {
  const dir = await tempDir(t);
  await t.rejects(createAgent({ host: '127.0.0.1', port: 0, stateDir: dir, log: () => {} }), {
    code: 'NODIX_ERR_AGENT_CONFIG',
    message: /no token/,
  });
  await t.rejects(createAgent({ host: '0.0.0.0', port: 0, stateDir: dir, insecure: true, log: () => {} }), {
    message: /loopback/,
  });
  const { agent } = await startAgent(t, dir, { insecure: true });
  t.equal((await api(agent.url, 'GET', '/v1/health')).status, 200, 'insecure agent answers without a token');
});

t.test('a corrupt state file stops the agent with a clear error', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'state.json'), 'not json');
  await t.rejects(createAgent({ host: '127.0.0.1', port: 0, stateDir: dir, token: 'x', log: () => {} }), {
    code: 'NODIX_ERR_STATE_CORRUPT',
    message: /state\.json is corrupt/,
  });
  t.equal(await readFile(join(dir, 'state.json'), 'utf8'), 'not json');
});

t.test('every call needs the token; without it nothing changes', async (t) => {
  const dir = await tempDir(t);
  const { agent, token } = await startAgent(t, dir);
  const port = await servicePort();
  const calls: Array<[string, string, unknown]> = [
    ['GET', '/v1/health', undefined],
    ['GET', '/v1/services', undefined],
    ['POST', '/v1/lock', { owner: 'mallory', ttlMs: 1000 }],
    ['POST', '/v1/activate', { service: processService('svc', port) }],
    ['POST', '/v1/deactivate', { name: 'svc' }],
  ];
  for (const [method, path, body] of calls) {
    for (const presented of [undefined, 'wrong', `${token}x`]) {
      const answer = await api(agent.url, method, path, { token: presented, body });
      t.equal(answer.status, 401, `${method} ${path} with ${presented ?? 'no token'}`);
      t.equal(answer.body.error.code, 'NODIX_ERR_UNAUTHORIZED');
      t.match(answer.headers['www-authenticate'], /Bearer/);
    }
  }
  const state = await api(agent.url, 'GET', '/v1/services', { token });
  t.same(state.body, { services: [], lock: null }, 'no lock taken, no service started');
  t.equal(await httpGet(port), undefined, 'nothing listens on the port');
});

t.test('bad requests get 400 (or 413) with the reason', async (t) => {
  const dir = await tempDir(t);
  const { agent, token } = await startAgent(t, dir);
  const good = processService('svc', 1);
  const cases: Array<[string, string, { body?: unknown; rawBody?: string }, number, RegExp]> = [
    ['not json', '/v1/lock', { rawBody: '{nope' }, 400, /not JSON/],
    ['array body', '/v1/lock', { body: [] }, 400, /JSON object/],
    ['lock without owner', '/v1/lock', { body: { ttlMs: 5 } }, 400, /owner/],
    ['lock with bad ttl', '/v1/lock', { body: { owner: 'a', ttlMs: -1 } }, 400, /ttlMs/],
    ['no service', '/v1/activate', { body: {} }, 400, /service: must be an object/],
    ['bad name', '/v1/activate', { body: { service: { ...good, name: '../etc' } } }, 400, /service\.name/],
    [
      'unknown type',
      '/v1/activate',
      { body: { service: { ...good, type: 'nginx' } } },
      400,
      /unknown type 'nginx'/,
    ],
    ['no hash', '/v1/activate', { body: { service: { ...good, hash: undefined } } }, 400, /service\.hash/],
    [
      'bad port',
      '/v1/activate',
      { body: { service: { ...good, config: { ...good.config, port: 70000 } } } },
      400,
      /port/,
    ],
    [
      'no command',
      '/v1/activate',
      { body: { service: { ...good, config: { port: 3000 } } } },
      400,
      /command/,
    ],
    [
      'webapp without dnsName',
      '/v1/activate',
      { body: { service: { ...good, type: 'webapp' } } },
      400,
      /dnsName/,
    ],
    [
      'proxy without routes',
      '/v1/activate',
      { body: { service: { ...good, type: 'proxy' } } },
      400,
      /route table/,
    ],
    ['bad timeout', '/v1/activate', { body: { service: good, timeoutMs: 'soon' } }, 400, /timeoutMs/],
    ['deactivate bad name', '/v1/deactivate', { body: { name: '' } }, 400, /name/],
    [
      'too large',
      '/v1/lock',
      { rawBody: `{"owner":"${'x'.repeat(5 * 1024 * 1024)}"}` },
      413,
      /exceeds the limit/,
    ],
  ];
  for (const [name, path, body, status, message] of cases) {
    const answer = await api(agent.url, 'POST', path, { token, ...body });
    t.equal(answer.status, status, name);
    t.match(answer.body.error?.message, message, name);
  }
  t.equal((await api(agent.url, 'GET', '/v1/nowhere', { token })).status, 404);
  t.equal((await api(agent.url, 'GET', '/v1/lock', { token })).status, 405);
  t.same((await services(agent, token)).length, 0);
});

t.test('lock: a second owner is refused and named; changes need the holder', async (t) => {
  const dir = await tempDir(t);
  const { agent, token } = await startAgent(t, dir);
  t.equal(
    (await api(agent.url, 'POST', '/v1/lock', { token, body: { owner: 'alice', ttlMs: 60_000 } })).status,
    200,
  );
  const refused = await api(agent.url, 'POST', '/v1/lock', { token, body: { owner: 'bob', ttlMs: 60_000 } });
  t.equal(refused.status, 409);
  t.match(refused.body.error.message, /locked by alice/);
  t.equal(refused.body.error.holder.owner, 'alice');
  const port = await servicePort();
  const blocked = await api(agent.url, 'POST', '/v1/activate', {
    token,
    body: { owner: 'bob', service: processService('s', port) },
  });
  t.equal(blocked.status, 409);
  t.equal((await api(agent.url, 'POST', '/v1/unlock', { token, body: { owner: 'bob' } })).status, 409);
  t.equal((await api(agent.url, 'POST', '/v1/unlock', { token, body: { owner: 'alice' } })).status, 200);
  t.equal((await api(agent.url, 'GET', '/v1/services', { token })).body.lock, null);
});

t.test(
  'activate, query, deactivate; idempotent; a port already taken fails and leaves nothing',
  async (t) => {
    const dir = await tempDir(t);
    const { agent, token } = await startAgent(t, dir);
    const port = await servicePort();
    const service = webappService('webapp1', port);
    const first = await api(agent.url, 'POST', '/v1/activate', { token, body: { service } });
    t.equal(first.status, 200, JSON.stringify(first.body));
    t.equal(first.body.action, 'started');
    t.equal(first.body.service.state, 'running');
    t.equal(first.body.service.port, port);
    t.equal(await httpGet(port), 'webapp1.local\n', 'the webapp answers with its name');
    const again = await api(agent.url, 'POST', '/v1/activate', { token, body: { service } });
    t.equal(again.body.action, 'unchanged');
    t.equal(again.body.service.pid, first.body.service.pid, 'same process');

    const changed = await api(agent.url, 'POST', '/v1/activate', {
      token,
      body: { service: webappService('webapp1', port, '-v2') },
    });
    t.equal(changed.body.action, 'replaced');
    t.not(changed.body.service.pid, first.body.service.pid);
    t.notOk(isAlive(first.body.service.pid), 'the old process is gone');

    // A port someone else holds: refused before anything starts, nothing left behind.
    const taken = await api(agent.url, 'POST', '/v1/activate', {
      token,
      body: { service: processService('other', port) },
    });
    t.equal(taken.status, 500);
    t.equal(taken.body.error.code, 'NODIX_ERR_ACTIVATION');
    t.match(taken.body.error.message, new RegExp(`port ${port} .*already in use`));
    t.same(
      (await services(agent, token)).map((s) => s.name),
      ['webapp1'],
    );

    // A service that dies at start: the reason from its log is in the error.
    const crashing = processService('crash', await servicePort(), {
      command: [process.execPath, '-e', 'console.error("boom: bad config"); process.exit(3)'],
    });
    const crashed = await api(agent.url, 'POST', '/v1/activate', { token, body: { service: crashing } });
    t.equal(crashed.status, 500);
    t.match(crashed.body.error.message, /exited before it was ready \(exit code 3\).*boom: bad config/);

    // Never ready: killed after the timeout, nothing left.
    const silentPort = await servicePort();
    const silent = processService('silent', silentPort, {
      command: [process.execPath, '-e', 'setInterval(() => {}, 1000)'],
    });
    const timedOut = await api(agent.url, 'POST', '/v1/activate', {
      token,
      body: { service: silent, timeoutMs: 500 },
    });
    t.match(timedOut.body.error.message, /not ready within 500 ms/);
    const log = await readFile(join(dir, 'logs', 'silent.log'), 'utf8');
    t.match(log, /nodix agent starts silent/);
    t.same(
      (await services(agent, token)).map((s) => s.name),
      ['webapp1'],
    );

    const stop = await api(agent.url, 'POST', '/v1/deactivate', { token, body: { name: 'webapp1' } });
    t.equal(stop.body.action, 'stopped');
    t.equal(await httpGet(port), undefined);
    t.equal(
      (await api(agent.url, 'POST', '/v1/deactivate', { token, body: { name: 'webapp1' } })).body.action,
      'absent',
    );
    const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8'));
    t.same(state.services, {}, 'state file emptied');
  },
);

t.test('a replaced service has let go of its port: main thread exited before the others', async (t) => {
  const lingering = mainThreadExitsFirst(1000);
  // Its main thread is a zombie at once while another thread keeps the socket for 1 s: stopping it must wait for
  // that thread, or the replacement finds the port still listened and fails with "already in use".
  const { agent, token } = await startAgent(t, await tempDir(t));
  const port = await servicePort();
  const old = processService('svc', port, { command: lingering });
  const first = await api(agent.url, 'POST', '/v1/activate', { token, body: { service: old } });
  t.equal(first.status, 200, JSON.stringify(first.body));
  const replaced = await api(agent.url, 'POST', '/v1/activate', {
    token,
    body: { service: processService('svc', port) },
  });
  t.equal(replaced.status, 200, JSON.stringify(replaced.body));
  t.equal(replaced.body.action, 'replaced');
  t.equal(await httpGet(port), 'svc', 'the replacement serves on the same port');
});

t.test(
  'a replaced service has let go of its port: a shell line whose child outlives the shell',
  async (t) => {
    // dash forks `node` (it is not the last command) and dies of the SIGTERM at once; node takes 700 ms to close.
    const { agent, token } = await startAgent(t, await tempDir(t));
    const port = await servicePort();
    const script =
      "const s=require('http').createServer().listen(+process.env.PORT,process.env.HOST);process.on('SIGTERM',()=>setTimeout(()=>process.exit(0),700))";
    const old = processService('svc', port, { command: `'${process.execPath}' -e "${script}"; true` });
    const first = await api(agent.url, 'POST', '/v1/activate', { token, body: { service: old } });
    t.equal(first.status, 200, JSON.stringify(first.body));
    const replaced = await api(agent.url, 'POST', '/v1/activate', {
      token,
      body: { service: processService('svc', port) },
    });
    t.equal(replaced.status, 200, JSON.stringify(replaced.body));
    t.equal(await httpGet(port), 'svc', 'the replacement serves on the same port');
    t.equal(
      (await api(agent.url, 'POST', '/v1/deactivate', { token, body: { name: 'svc' } })).body.action,
      'stopped',
    );
  },
);

t.test('a killed service comes back with backoff; services survive the agent and are adopted', async (t) => {
  const dir = await tempDir(t);
  const token = newToken();
  const first = await startAgent(t, dir, { token });
  const port = await servicePort();
  const activated = await api(first.agent.url, 'POST', '/v1/activate', {
    token,
    body: { service: processService('svc', port) },
  });
  t.equal(activated.status, 200, JSON.stringify(activated.body));
  const pid1 = activated.body.service.pid as number;
  t.teardown(() => killGroup(pid1));

  process.kill(pid1, 'SIGKILL');
  const restarted = await waitFor('restart', async () => {
    const [svc] = await services(first.agent, token);
    return svc && svc.state === 'running' && svc.pid !== pid1 ? svc : undefined;
  });
  t.equal(restarted.restarts, 1);
  t.equal(await httpGet(port), 'svc');
  const pid2 = restarted.pid;
  t.teardown(() => killGroup(pid2));

  await first.close();
  t.ok(isAlive(pid2), 'the service outlives the agent');
  t.equal(await httpGet(port), 'svc', 'and keeps serving');

  const second = await startAgent(t, dir, { token });
  const [adopted] = await services(second.agent, token);
  t.equal(adopted?.pid, pid2, 'the new agent adopts the same process');
  t.equal(adopted?.state, 'running');

  // An adopted process is not our child: its death is found by polling.
  process.kill(pid2, 'SIGKILL');
  const again = await waitFor('restart of adopted', async () => {
    const [svc] = await services(second.agent, token);
    return svc && svc.state === 'running' && svc.pid !== pid2 ? svc : undefined;
  });
  t.teardown(() => killGroup(again.pid));
  t.equal(again.restarts, 2);
  t.equal(await httpGet(port), 'svc');
  await api(second.agent.url, 'POST', '/v1/deactivate', { token, body: { name: 'svc' } });
});

t.test('a reused PID is never adopted: the service is started again', async (t) => {
  const dir = await tempDir(t);
  const token = newToken();
  const port = await servicePort();
  const service = processService('svc', port);
  // The state says the service is this test process, with another start time: a PID reused by someone else.
  const state = {
    version: 1,
    lock: null,
    services: {
      svc: {
        instance: service,
        restarts: 0,
        activatedAt: Date.now(),
        process: { pid: process.pid, startTime: '1', bootId: 'x', startedAt: Date.now() },
      },
    },
  };
  await writeFile(join(dir, 'state.json'), JSON.stringify(state));
  const { agent } = await startAgent(t, dir, { token });
  const svc = await waitFor('fresh start', async () => {
    const [entry] = await services(agent, token);
    return entry?.state === 'running' && entry.pid !== process.pid ? entry : undefined;
  });
  t.teardown(() => killGroup(svc.pid));
  t.not(svc.pid, process.pid);
  t.equal(await httpGet(port), 'svc');
  t.ok(isAlive(process.pid), 'and the stranger was not signalled');
  await api(agent.url, 'POST', '/v1/deactivate', { token, body: { name: 'svc' } });
});
