import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import t from 'tap';
import { createAgent } from '../../src/agent/server.js';
import type { ServiceInstance } from '../../src/plan/types.js';
import { api, httpGet, killGroup, newToken, servicePort, tempDir, webappService } from './helpers.js';

function proxyService(port: number, hosts: Record<string, number>, version = ''): ServiceInstance {
  const routes = {
    version: 1 as const,
    hosts: Object.fromEntries(
      Object.entries(hosts).map(([host, upstream]) => [
        host,
        { upstreams: [`http://127.0.0.1:${upstream}`] },
      ]),
    ),
  };
  return {
    name: 'proxy-test1',
    type: 'proxy',
    target: 'test1',
    hash: `proxy-${JSON.stringify(hosts)}${version}`,
    config: { port, bindHost: '127.0.0.1' },
    dependsOn: [],
    connectsTo: [],
    routes,
  };
}

/** GET through the proxy with a Host header: status and body. */
function viaProxy(port: number, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('a proxy takes a new route table by reload: same process, no request dropped', async (t) => {
  const dir = await tempDir(t);
  const token = newToken();
  const agent = await createAgent({ host: '127.0.0.1', port: 0, stateDir: dir, token, log: () => {} });
  t.teardown(async () => {
    for (const service of agent.supervisor.list()) killGroup(service.pid);
    await agent.close();
  });
  const [w1, w2, proxyPort] = [await servicePort(), await servicePort(), await servicePort()];
  for (const [name, port] of [
    ['webapp1', w1],
    ['webapp2', w2],
  ] as const) {
    const answer = await api(agent.url, 'POST', '/v1/activate', {
      token,
      body: { service: webappService(name, port) },
    });
    t.equal(answer.status, 200, JSON.stringify(answer.body));
  }
  const first = await api(agent.url, 'POST', '/v1/activate', {
    token,
    body: { service: proxyService(proxyPort, { 'webapp1.local': w1 }) },
  });
  t.equal(first.status, 200, JSON.stringify(first.body));
  t.equal(first.body.action, 'started');
  t.same(await viaProxy(proxyPort, 'webapp1.local'), { status: 200, body: 'webapp1.local\n' });
  t.equal((await viaProxy(proxyPort, 'webapp2.local')).status, 404, 'not routed yet');
  const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8'));
  t.ok(state.services['proxy-test1'].runtime.adminPort > 0, 'the admin port the proxy chose is remembered');

  // Requests keep flowing while the table changes; every one must be answered by webapp1.
  let stop = false;
  const failures: string[] = [];
  let answered = 0;
  const load = (async () => {
    while (!stop) {
      const answer = await viaProxy(proxyPort, 'webapp1.local').catch((error: Error) => ({
        status: 0,
        body: error.message,
      }));
      if (answer.status !== 200) failures.push(`${answer.status} ${answer.body}`);
      answered += 1;
    }
  })();
  const second = await api(agent.url, 'POST', '/v1/activate', {
    token,
    body: { service: proxyService(proxyPort, { 'webapp1.local': w1, 'webapp2.local': w2 }) },
  });
  t.equal(second.body.action, 'reloaded');
  t.equal(second.body.service.pid, first.body.service.pid, 'not restarted');
  t.same(await viaProxy(proxyPort, 'webapp2.local'), { status: 200, body: 'webapp2.local\n' });
  stop = true;
  await load;
  t.ok(answered > 0);
  t.same(failures, [], 'no request dropped during the reload');
  const routes = JSON.parse(await readFile(join(dir, 'services', 'proxy-test1', 'routes.json'), 'utf8'));
  t.same(Object.keys(routes.hosts).sort(), ['webapp1.local', 'webapp2.local']);

  // A change of the proxy's own settings (its port) is a restart.
  const newPort = await servicePort();
  const third = await api(agent.url, 'POST', '/v1/activate', {
    token,
    body: { service: proxyService(newPort, { 'webapp1.local': w1 }, '-moved') },
  });
  t.equal(third.body.action, 'replaced');
  t.not(third.body.service.pid, first.body.service.pid);
  t.equal(await httpGet(proxyPort), undefined, 'the old port is closed');
  t.same(await viaProxy(newPort, 'webapp1.local'), { status: 200, body: 'webapp1.local\n' });
});
