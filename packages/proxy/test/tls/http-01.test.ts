/** HTTP-01 answers (src/tls/acme/http-01.ts) on both request paths, before routing. */
import t from 'tap';
import { setAcmeChallenge } from '../../src/tls/acme/http-01.js';
import { rawClient, rawRequest, request, startProxy, startUpstream, table } from '../helpers.js';

for (const fastPath of [true, false]) {
  t.test(
    `${fastPath ? 'fast path' : 'node:http path'}: pending tokens answered, others 404, the rest routed`,
    async (t) => {
      const upstream = await startUpstream(t);
      const { port } = await startProxy(t, table({ 'app.test': { upstreams: [upstream.origin] } }), {
        fastPath,
      });
      const path = '/.well-known/acme-challenge/tok-123';

      // No challenge pending: the path is an ordinary one (the upstream answers).
      const before = await request(port, { host: 'app.test', path });
      t.equal(before.status, 200);
      t.equal(JSON.parse(before.body).url, path);

      // One keep-alive connection asks before and after the challenge is set: the routed head the fast path kept
      // from the first request must not answer the second.
      const keptAlive = await rawClient(t, port);
      const [routed] = await keptAlive.send(`GET ${path} HTTP/1.1\r\nHost: app.test\r\n\r\n`);
      t.match(routed, /"url"/, 'routed while no challenge is pending');
      setAcmeChallenge('tok-123', 'tok-123.thumbprint');
      t.teardown(() => setAcmeChallenge('tok-123', null));
      const [challenge] = await keptAlive.send(`GET ${path} HTTP/1.1\r\nHost: app.test\r\n\r\n`);
      t.match(challenge, /tok-123\.thumbprint$/, 'the same connection gets the answer once it is pending');
      const answered = await request(port, { host: 'app.test', path });
      t.equal(answered.status, 200);
      t.equal(answered.body, 'tok-123.thumbprint');
      t.match(answered.headers['content-type'], /^text\/plain/);
      // Whatever the Host: the CA asks with the name being validated, which may not be routed yet.
      const unknownHost = await request(port, { host: 'new-name.test', path });
      t.equal(unknownHost.body, 'tok-123.thumbprint');
      // Twice on one connection (the fast path keeps routed heads: a challenge head must not be kept as routed).
      const twice = await rawRequest(
        port,
        `GET ${path} HTTP/1.1\r\nHost: app.test\r\n\r\nGET ${path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`,
      );
      t.equal(twice.match(/tok-123\.thumbprint/g)?.length, 2);

      const unknown = await request(port, { host: 'app.test', path: '/.well-known/acme-challenge/other' });
      t.equal(unknown.status, 404);
      const post = await request(port, { host: 'app.test', path, method: 'POST', body: 'x' });
      t.equal(post.status, 404);
      const other = await request(port, { host: 'app.test', path: '/index' });
      t.equal(JSON.parse(other.body).url, '/index', 'other paths still go upstream');

      setAcmeChallenge('tok-123', null);
      const after = await request(port, { host: 'app.test', path });
      t.equal(JSON.parse(after.body).url, path, 'routed again once the challenge is down');
    },
  );
}
