import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import type { IdleClientResult } from '../lib/idle-client.js';
import { fileLimitPrefix } from '../lib/idle-memory-scenario.js';
import { serverConnections } from '../lib/proc-stats.js';
import { type RunningProcess, startProcess } from '../lib/processes.js';

const clientPath = fileURLToPath(new URL('../lib/idle-client.ts', import.meta.url));

async function serve(t: Test): Promise<{ server: Server; port: number; hosts: string[] }> {
  const hosts: string[] = [];
  const server = createServer({ keepAliveTimeout: 600_000 }, (req, res) => {
    hosts.push(req.headers.host ?? '');
    res.writeHead(200, { 'Content-Length': '3' }).end('ok\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { server, port: (server.address() as AddressInfo).port, hosts };
}

/** The client, plus a promise for each line it prints from now on. */
async function client(t: Test, port: number, connections: number) {
  const lines: string[] = [];
  const proc: RunningProcess = await startProcess({
    label: 'idle client',
    command: process.execPath,
    args: [
      '--import',
      'tsx',
      clientPath,
      JSON.stringify({ port, connections, concurrency: 4, hosts: ['a', 'b'] }),
    ],
    ready: { line: /^idle client warm$/ },
    readyTimeoutMs: 60_000,
    onLine: (line) => lines.push(line),
  });
  t.teardown(() => proc.stop());
  const line = async (pattern: RegExp) => {
    while (!lines.some((l) => pattern.test(l))) {
      if (proc.exit) throw new Error(`client exited:\n${proc.outputTail()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const result = async (): Promise<IdleClientResult> => {
    await proc.exited;
    t.equal(proc.exit?.code, 0, proc.outputTail());
    const found = lines.find((l) => l.startsWith('RESULT '));
    return JSON.parse(found?.slice('RESULT '.length) ?? '{}') as IdleClientResult;
  };
  return { proc, line, result };
}

const openConnections = (server: Server) =>
  new Promise<number>((resolve, reject) =>
    server.getConnections((error, n) => (error ? reject(error) : resolve(n))),
  );

t.test('opens N connections, one GET each, keeps them idle, then closes every one', async (t) => {
  const { server, port, hosts } = await serve(t);
  const { proc, line, result } = await client(t, port, 30);
  // Warm-up: two waves of `concurrency` requests, each on its own connection, all closed again.
  t.equal(hosts.length, 8);
  proc.signal('SIGUSR1');
  await line(/^idle client open 30$/);
  t.equal(hosts.length, 8 + 30, 'one request per idle connection');
  t.same([...new Set(hosts)].sort(), ['a', 'b'], 'hosts used in turn');
  t.equal(await openConnections(server), 30);
  t.equal(serverConnections(port), 30, '/proc/net/tcp agrees');
  proc.signal('SIGUSR2');
  const done = await result();
  t.equal(done.opened, 30);
  t.equal(done.closedByServer, 0);
  // The client waited for every close; the server sees them all (polled: the server side closes on its own tick).
  for (let i = 0; i < 200 && (await openConnections(server)) > 0; i++)
    await new Promise((r) => setTimeout(r, 10));
  t.equal(await openConnections(server), 0, 'no connection left open');
});

t.test('a server that closes idle connections is caught, not counted as idle', async (t) => {
  const { server, port } = await serve(t);
  const { proc, line, result } = await client(t, port, 12);
  proc.signal('SIGUSR1');
  await line(/^idle client open 12$/);
  server.closeAllConnections();
  // Until the client has seen every close: no socket left whose remote end is the server's port (but the warm-up's
  // in TIME_WAIT, which the client closed itself).
  const remote = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const clientSockets = () =>
    readFileSync('/proc/net/tcp', 'utf8')
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields[2] === remote && fields[3] !== '06').length;
  for (let i = 0; i < 500 && clientSockets() > 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(clientSockets(), 0, 'the client saw every close');
  proc.signal('SIGUSR2');
  const done = await result();
  t.equal(done.opened, 12);
  t.equal(done.closedByServer, 12);
});

t.test('a server that answers with an error fails the client', async (t) => {
  const server = createServer((_req, res) => res.writeHead(404, { 'Content-Length': '0' }).end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  await t.rejects(
    client(t, (server.address() as AddressInfo).port, 5),
    /idle client failed: warm-up: answer HTTP\/1\.1 404/,
  );
});

t.test('RLIMIT_NOFILE prefix: the soft limit raised, the hard one only when too low', async (t) => {
  t.same(fileLimitPrefix(12_048, 20_000), ['prlimit', '--nofile=12048:20000']);
  t.same(fileLimitPrefix(12_048, 1_024), ['prlimit', '--nofile=12048:12048']);
  t.same(fileLimitPrefix(12_048, Number.POSITIVE_INFINITY), ['prlimit', '--nofile=12048:unlimited']);
});
