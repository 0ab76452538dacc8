import { request } from 'node:http';
import { connect } from 'node:net';
import t from 'tap';
import { createWebapp, formatAddress } from '../src/webapp.js';

async function started(name: string) {
  const webapp = createWebapp({ name, port: 0, host: '127.0.0.1' });
  const address = await webapp.listen();
  t.teardown(() => webapp.close());
  return { webapp, address };
}

/** Sends raw bytes on one socket and collects what comes back until the server closes or `until` matches. */
function raw(port: number, bytes: string, until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk) => {
      data += chunk;
      if (until.test(data)) {
        socket.destroy();
        resolve(data);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(data));
    socket.write(bytes);
  });
}

t.test(
  'answers every request with its name, newline-terminated, as text/plain with a Content-Length',
  async (t) => {
    const { address } = await started('webapp2.local');
    for (const [method, path] of [
      ['GET', '/'],
      ['GET', '/any/path?q=1'],
      ['POST', '/form'],
      ['DELETE', '/x'],
    ] as const) {
      const res = await fetch(`http://127.0.0.1:${address.port}${path}`, {
        method,
        body: method === 'POST' ? 'a=1' : undefined,
      });
      t.equal(res.status, 200, `${method} ${path}`);
      t.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
      t.equal(res.headers.get('content-length'), '14');
      t.equal(await res.text(), 'webapp2.local\n');
    }
  },
);

t.test('HEAD gets the headers and no body', async (t) => {
  const { address } = await started('webapp1.local');
  const reply = await raw(
    address.port,
    'HEAD / HTTP/1.1\r\nHost: webapp1.local\r\n\r\nGET / HTTP/1.1\r\nHost: webapp1.local\r\n\r\n',
    /webapp1\.local\n$/,
  );
  const responses = reply.split('HTTP/1.1 200 OK').filter(Boolean);
  t.equal(responses.length, 2, 'both answered on one connection');
  t.match(responses[0], /Content-Length: 14\r\n/);
  t.ok(responses[0]!.endsWith('\r\n\r\n'), 'HEAD answer ends after the headers');
  t.ok(responses[1]!.endsWith('\r\n\r\nwebapp1.local\n'));
});

t.test('keeps connections alive across requests, also after a request body', async (t) => {
  const { address } = await started('webapp3.local');
  const reply = await raw(
    address.port,
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello' +
      'GET / HTTP/1.1\r\nHost: x\r\n\r\n' +
      'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
    /(webapp3\.local\n[\s\S]*){3}/,
  );
  t.equal(reply.match(/HTTP\/1\.1 200 OK/g)?.length, 3);
  t.match(reply, /Connection: keep-alive/);
});

t.test('a malformed request gets 400, not a crash', async (t) => {
  const { address } = await started('webapp4.local');
  const reply = await raw(address.port, 'GARBAGE\r\n\r\n', /\r\n\r\n/);
  t.match(reply, /^HTTP\/1\.1 400 Bad Request/);
  const res = await fetch(`http://127.0.0.1:${address.port}/`);
  t.equal(await res.text(), 'webapp4.local\n', 'still serving');
});

t.test('close() stops accepting and lets an in-flight request finish', async (t) => {
  const webapp = createWebapp({ name: 'slow.local', port: 0, host: '127.0.0.1' });
  const { port } = await webapp.listen();
  // A request whose body is still arriving is in flight: the answer must still come once it completes.
  const reply = new Promise<string>((resolve, reject) => {
    const req = request(
      { port, host: '127.0.0.1', method: 'POST', headers: { 'content-length': '4' } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve(body));
      },
    );
    req.on('error', reject);
    req.write('ab');
    setTimeout(() => req.end('cd'), 150);
  });
  await new Promise((r) => setTimeout(r, 50));
  const closed = webapp.close();
  t.equal(await reply, 'slow.local\n');
  await closed;
  await t.rejects(fetch(`http://127.0.0.1:${port}/`), 'no longer accepting');
});

t.test('close() cuts connections that outlive the deadline', async (t) => {
  const webapp = createWebapp({ name: 'stuck.local', port: 0, host: '127.0.0.1', closeTimeoutMs: 100 });
  const { port } = await webapp.listen();
  const socket = connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial');
  await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  await webapp.close();
  t.ok(Date.now() - started < 2000, 'close resolved after the deadline');
  socket.destroy();
});

t.test('listen() rejects when the port is taken', async (t) => {
  const { address } = await started('first.local');
  const second = createWebapp({ name: 'second.local', port: address.port, host: '127.0.0.1' });
  await t.rejects(second.listen(), { code: 'EADDRINUSE' });
});

t.test('options are checked', async (t) => {
  t.throws(() => createWebapp({ name: '' }), TypeError);
  t.equal(formatAddress('::1', 80), '[::1]:80');
  t.equal(formatAddress('127.0.0.1', 80), '127.0.0.1:80');
});
