// The bare node:http server: the baseline nodix-webapp is measured against, and the backend behind every proxy
// scenario. Plain JavaScript on purpose: it runs as `node bare-http.mjs` with no TypeScript loader in the
// measured process, exactly as the compiled nodix bins run, so start-up hooks cost neither side memory or CPU.
//
// It answers the bytes nodix-webapp answers (`<name>\n`, text/plain; charset=utf-8, Content-Length, keep-alive
// with the same 65 s timeout) and nothing more: no config library, no HEAD special case, no signal handling
// beyond the default (SIGTERM ends it).
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    // Backend mode (the proxy scenarios): read a request body to its end before answering, as a real app reads
    // what it was sent, so a 64 KB POST crosses the proxy in full instead of being cut short by an early answer.
    'read-body': { type: 'boolean', default: false },
  },
});
if (!values.name) {
  process.stderr.write('bare-http: --name is required\n');
  process.exit(2);
}

const body = Buffer.from(`${values.name}\n`);
const headers = ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(body.length)];

const answer = values['read-body']
  ? (req, res) => {
      if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
        res.writeHead(200, headers);
        res.end(body);
        return;
      }
      req.on('data', () => {});
      req.once('end', () => {
        res.writeHead(200, headers);
        res.end(body);
      });
    }
  : (_req, res) => {
      res.writeHead(200, headers);
      res.end(body);
    };

const server = createServer({ keepAliveTimeout: 65_000 }, answer);
server.listen(Number(values.port), values.host, () => {
  const { address, port } = server.address();
  process.stdout.write(`bare-http ${values.name} listening on ${address}:${port}\n`);
});
