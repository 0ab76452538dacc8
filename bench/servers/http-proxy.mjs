// The http-proxy baseline: what a Node user would reach for instead of nodix-proxy. http-proxy 1.18.1 with a
// keep-alive agent (without one it opens a backend connection per request, which would flatter nodix-proxy),
// routing by Host over the same route table file nodix-proxy reads. Plain JavaScript so no TypeScript loader
// sits in the measured process (see bare-http.mjs).
import { readFileSync } from 'node:fs';
import { Agent, createServer } from 'node:http';
import { parseArgs } from 'node:util';
import httpProxy from 'http-proxy';

const { values } = parseArgs({
  options: {
    routes: { type: 'string' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
if (!values.routes) {
  process.stderr.write('http-proxy baseline: --routes FILE is required\n');
  process.exit(2);
}

// Host → upstream origins, and a round-robin cursor per host: the least a Host-routing proxy has to do.
const table = JSON.parse(readFileSync(values.routes, 'utf8'));
const routes = new Map();
for (const [host, vhost] of Object.entries(table.hosts))
  routes.set(host.toLowerCase(), { upstreams: vhost.upstreams, next: 0 });

const agent = new Agent({ keepAlive: true, maxFreeSockets: 1024 });
const proxy = httpProxy.createProxyServer({ agent, xfwd: true });
proxy.on('error', (_error, _req, res) => {
  // res is a socket for upgrades; this baseline serves plain HTTP only.
  if (typeof res.writeHead !== 'function' || res.headersSent) return res.destroy?.();
  res.writeHead(502, { 'content-type': 'text/plain' });
  res.end('bad gateway\n');
});

const server = createServer((req, res) => {
  const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
  const route = routes.get(host);
  if (!route) {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('unknown host\n');
    return;
  }
  const target = route.upstreams[route.next++ % route.upstreams.length];
  proxy.web(req, res, { target });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(values.port), values.host, () => {
  const { address, port } = server.address();
  process.stdout.write(`http-proxy listening on ${address}:${port}\n`);
});
