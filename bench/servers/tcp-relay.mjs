// The floor of any Node proxy: a TCP relay that copies bytes between each client connection and its own backend
// connection, with no HTTP parsing, no routing and no headers added. Not a proxy anyone should run (one backend,
// one backend connection per client connection); it measures what Node itself costs to move a request and its
// response through one process (two reads and two writes, all on one event loop), so the proxies' figures can be
// read against it: whatever an HTTP-aware Node proxy costs beyond this is its HTTP work.
import { connect, createServer } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    upstream: { type: 'string' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
if (!values.upstream) {
  process.stderr.write('tcp-relay: --upstream http://HOST:PORT is required\n');
  process.exit(2);
}
const target = new URL(values.upstream);

const server = createServer({ noDelay: true }, (client) => {
  const backend = connect({ host: target.hostname, port: Number(target.port), noDelay: true });
  client.pipe(backend);
  backend.pipe(client);
  const close = () => {
    client.destroy();
    backend.destroy();
  };
  client.on('error', close);
  backend.on('error', close);
  client.on('close', close);
  backend.on('close', close);
});
server.listen(Number(values.port), values.host, () => {
  const { address, port } = server.address();
  process.stdout.write(`tcp-relay listening on ${address}:${port}\n`);
});
