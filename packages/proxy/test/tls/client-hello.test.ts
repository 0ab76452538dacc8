/** The ClientHello reader of TLS-ALPN-01 (src/tls/acme/client-hello.ts), on ClientHellos node:tls really sends. */
import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { connect } from 'node:tls';
import t from 'tap';
import { parseClientHello } from '../../src/tls/acme/client-hello.js';

/** The first bytes a node:tls client sends with these options (its ClientHello record). */
async function clientHello(options: { servername?: string; ALPNProtocols?: string[] }): Promise<Buffer> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const accepted = once(server, 'connection');
  const client = connect({ host: '127.0.0.1', port, ...options });
  client.on('error', () => {});
  const [socket] = await accepted;
  const chunks: Buffer[] = [];
  for (;;) {
    const [chunk] = await once(socket, 'data');
    chunks.push(chunk);
    const buf = Buffer.concat(chunks);
    if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) break;
  }
  client.destroy();
  socket.destroy();
  server.close();
  return Buffer.concat(chunks);
}

t.test('SNI name and ALPN offer of real ClientHellos', async (t) => {
  const acme = await clientHello({ servername: 'a.example.test', ALPNProtocols: ['acme-tls/1'] });
  t.same(parseClientHello(acme), { servername: 'a.example.test', alpn: ['acme-tls/1'] });
  const browser = await clientHello({ servername: 'b.test', ALPNProtocols: ['h2', 'http/1.1'] });
  t.same(parseClientHello(browser), { servername: 'b.test', alpn: ['h2', 'http/1.1'] });
  const bare = await clientHello({});
  t.same(parseClientHello(bare), { servername: '', alpn: [] });

  // Any cut of the record is incomplete, never a wrong answer.
  for (const cut of [0, 3, 5, 40, acme.length - 1])
    t.equal(parseClientHello(acme.subarray(0, cut)), 'incomplete', `cut at ${cut}`);
});

t.test('what is not a ClientHello is left alone', async (t) => {
  t.equal(parseClientHello(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), null);
  t.equal(
    parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x02, 0x02, 0x00])),
    null,
    'a handshake record that is not a ClientHello',
  );
  const acme = await clientHello({ servername: 'a.test', ALPNProtocols: ['acme-tls/1'] });
  const broken = Buffer.from(acme);
  // An extension length running past the record.
  broken.writeUInt16BE(0xffff, broken.length - 4);
  t.not(parseClientHello(broken), 'incomplete');
});
