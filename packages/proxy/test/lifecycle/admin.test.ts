/**
 * The admin listener refuses what a web page could make a browser send (issue #10, defect 11): foreign Host
 * names (DNS rebinding) get 421, and POST /reload needs a header no cross-site request carries without a
 * preflight, and refuses a cross-site Origin or Sec-Fetch-Site.
 */
import t from 'tap';
import { request, startProxy, table } from '../helpers.js';

t.test('only Hosts naming the admin listener are answered', async (t) => {
  const { adminPort } = await startProxy(t, table({}), { adminAllowedHosts: ['proxy.internal'] });
  const port = adminPort!;
  for (const host of [
    `127.0.0.1:${port}`,
    '127.0.0.1',
    `localhost:${port}`,
    'LOCALHOST',
    `[::1]:${port}`,
    `proxy.internal:${port}`,
    'Proxy.Internal.',
  ]) {
    t.equal((await request(port, { path: '/healthz', host })).status, 200, host);
  }
  for (const host of [`attacker.example:${port}`, 'attacker.example', '0.0.0.0', '10.1.2.3', 'a b']) {
    const res = await request(port, { path: '/route-table', host });
    t.equal(res.status, 421, host);
    t.match(JSON.parse(res.body), { error: /is not this admin listener's \(allowed: loopback/ });
    t.notMatch(res.body.trim(), /\n/, 'one line');
  }
  // No Host at all: node:http answers HTTP/1.1 without Host with 400 before the admin handler runs.
  t.equal((await request(port, { path: '/metrics', host: null })).status, 400, 'no Host at all');
});

t.test('POST /reload: refused cross-site and without the X-Nodix-Admin header', async (t) => {
  const { adminPort } = await startProxy(t, table({}));
  const port = adminPort!;
  const host = `127.0.0.1:${port}`;
  const post = (headers: Record<string, string>) =>
    request(port, { method: 'POST', path: '/reload', host, headers });

  // What a page on another site can send without a preflight: a simple POST (form or fetch no-cors).
  const simple = await post({ 'content-type': 'text/plain' });
  t.equal(simple.status, 403);
  t.match(JSON.parse(simple.body).error, /need an x-nodix-admin header/);
  const form = await post({ 'content-type': 'application/x-www-form-urlencoded', origin: 'null' });
  t.equal(form.status, 403);
  t.match(JSON.parse(form.body).error, /Origin null: cross-site requests are refused/);
  // Even with the header (it cannot have it without a preflight, but a browser's word counts first).
  const crossOrigin = await post({ 'x-nodix-admin': '1', origin: 'https://attacker.example' });
  t.equal(crossOrigin.status, 403);
  t.match(JSON.parse(crossOrigin.body).error, /Origin https:\/\/attacker\.example/);
  const crossSite = await post({ 'x-nodix-admin': '1', 'sec-fetch-site': 'cross-site' });
  t.equal(crossSite.status, 403);
  t.match(JSON.parse(crossSite.body).error, /Sec-Fetch-Site cross-site/);

  // A script (curl, the deployer's agent) and the listener's own page are fine.
  t.equal((await post({ 'x-nodix-admin': '1' })).status, 200);
  t.equal(
    (await post({ 'x-nodix-admin': '1', origin: `http://${host}`, 'sec-fetch-site': 'same-origin' })).status,
    200,
  );
  // Reading needs no header: GET cannot change anything.
  t.equal((await request(port, { path: '/healthz', host })).status, 200);
});
