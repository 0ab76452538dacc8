import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import WebSocket, { WebSocketServer } from 'ws';
import { rawRequest, startProxy, startUpstream, table, waitFor } from '../helpers.js';

/** An upstream with a WebSocket echo endpoint; records the upgrade requests it saw. */
async function startEchoUpstream(t: Test) {
  const up = await startUpstream(t, (_req, res) => res.end('plain'));
  const wss = new WebSocketServer({ noServer: true });
  const seen: IncomingMessage[] = [];
  up.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    seen.push(req);
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, binary) => ws.send(data, { binary }));
    });
  });
  t.teardown(() => {
    for (const client of wss.clients) client.terminate();
    wss.close();
  });
  return { up, wss, seen };
}

function openClient(t: Test, port: number, host = 'webapp1.local', path = '/chat'): WebSocket {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { host } });
  ws.on('error', () => {});
  t.teardown(() => ws.terminate());
  return ws;
}

async function echo(ws: WebSocket, text: string): Promise<string> {
  if (ws.readyState !== WebSocket.OPEN) await once(ws, 'open');
  ws.send(text);
  const [data] = await once(ws, 'message');
  return String(data);
}

t.test('WebSocket echo through the proxy; Host kept, X-Forwarded-For set', async (t) => {
  const { up, seen } = await startEchoUpstream(t);
  const { port, proxy } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const ws = openClient(t, port);
  t.equal(await echo(ws, 'hello'), 'hello');
  t.equal(await echo(ws, 'x'.repeat(200_000)), 'x'.repeat(200_000), 'large frames cross both ways');
  t.equal(seen[0]!.headers.host, 'webapp1.local');
  t.equal(seen[0]!.headers['x-forwarded-for'], '127.0.0.1');
  t.equal(seen[0]!.headers.upgrade, 'websocket');
  t.equal(seen[0]!.url, '/chat');
  t.equal(proxy.stats().upgrades, 1);
  ws.close();
  await once(ws, 'close');
  await waitFor(() => proxy.stats().upgrades === 0, 3000, 'proxy forgot the closed upgrade');
});

t.test('clients vanishing leave no open sockets on the proxy or the upstream', async (t) => {
  const { up, wss } = await startEchoUpstream(t);
  const { port, proxy } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const clients = Array.from({ length: 10 }, () => openClient(t, port));
  for (const [i, ws] of clients.entries()) t.equal(await echo(ws, `m${i}`), `m${i}`);
  t.equal(wss.clients.size, 10);
  // terminate() destroys the TCP socket without a close frame: the client just disappears.
  for (const ws of clients) ws.terminate();
  await waitFor(() => proxy.stats().upgrades === 0, 5000, 'proxy sockets closed');
  await waitFor(() => wss.clients.size === 0 && up.sockets.size === 0, 5000, 'upstream sockets closed');
  await waitFor(() => proxy.stats().openConnections === 0, 5000, 'no client connection counted');
  t.pass('nothing left open');
});

t.test('an upstream closing its side closes the client', async (t) => {
  const { up, wss } = await startEchoUpstream(t);
  const { port, proxy } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const ws = openClient(t, port);
  t.equal(await echo(ws, 'a'), 'a');
  for (const client of wss.clients) client.terminate();
  await once(ws, 'close');
  await waitFor(() => proxy.stats().upgrades === 0, 3000, 'proxy sockets closed');
  t.pass('client saw the close');
});

t.test(
  'a non-101 answer is relayed; handshake timeout is 504; errors and unknown hosts have their statuses',
  async (t) => {
    // An upstream without an 'upgrade' listener answers the request as a normal one.
    const plain = await startUpstream(t, (_req, res) => {
      res.writeHead(403, { 'content-type': 'text/plain', 'content-length': '7' });
      res.end('denied\n');
    });
    const silent = await startUpstream(t);
    // Takes the upgrade and never answers (but reads, so that it notices when the proxy hangs up; node:http hands
    // over upgraded sockets half-open, so ending our side is up to us).
    silent.server.on('upgrade', (_req: IncomingMessage, socket: Socket) => {
      socket.resume();
      socket.on('end', () => socket.end());
    });
    const refused = await startUpstream(t);
    await refused.close();
    const { port, proxy } = await startProxy(
      t,
      table({
        'plain.local': { upstreams: [plain.origin] },
        'silent.local': { upstreams: [silent.origin] },
        'refused.local': { upstreams: [refused.origin] },
      }),
      { timeouts: { upgradeMs: 200 } },
    );
    const statusOf = async (host: string) => {
      const ws = openClient(t, port, host);
      const [, res] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage];
      let body = '';
      res.setEncoding('utf8').on('data', (c) => {
        body += c;
      });
      await once(res, 'end');
      return { status: res.statusCode, body };
    };
    t.same(await statusOf('plain.local'), { status: 403, body: 'denied\n' });
    const started = Date.now();
    const timeout = await statusOf('silent.local');
    t.equal(timeout.status, 504);
    t.ok(Date.now() - started < 2000, 'answered at the handshake timeout');
    t.equal((await statusOf('refused.local')).status, 502);
    const unknown = await statusOf('nope.local');
    t.equal(unknown.status, 404);
    t.match(unknown.body, /This web application is unavailable at the moment!/);
    await waitFor(() => proxy.stats().upgrades === 0, 3000, 'no upgrade sockets left');
    await waitFor(() => silent.sockets.size === 0, 3000, 'the timed-out upstream connection was closed');
  },
);

t.test('other Upgrade protocols are forwarded too (raw bytes both ways)', async (t) => {
  const up = await startUpstream(t);
  up.server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${req.headers.upgrade}\r\n\r\n`,
    );
    socket.on('data', (chunk: Buffer) => socket.write(chunk.toString().toUpperCase()));
  });
  const { port } = await startProxy(t, table({ 'webapp1.local': { upstreams: [up.origin] } }));
  const socket = connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  await once(socket, 'connect');
  socket.write('GET /raw HTTP/1.1\r\nHost: webapp1.local\r\nConnection: Upgrade\r\nUpgrade: shout/1\r\n\r\n');
  let received = '';
  socket.setEncoding('latin1').on('data', (c: string) => {
    received += c;
  });
  await waitFor(() => received.includes('\r\n\r\n'), 3000, '101');
  t.match(received, /^HTTP\/1\.1 101 /);
  t.match(received, /Upgrade: shout\/1/i);
  socket.write('hello');
  await waitFor(() => received.endsWith('HELLO'), 3000, 'echo');
  t.pass('bytes flow after the upgrade');
  t.match(
    await rawRequest(port, 'GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n'),
    /^HTTP\/1\.1 400 /,
  );
});
