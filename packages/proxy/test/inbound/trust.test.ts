import t from 'tap';
import { createTrustedProxies, normalisePeerAddress } from '../../src/inbound/trust.js';

t.test('trusted proxies: addresses and CIDR ranges, IPv4 and IPv6', async (t) => {
  t.equal(createTrustedProxies([]), null, 'none: nobody is trusted, no per-request check');
  const trust = createTrustedProxies(['10.0.0.0/8', '192.168.1.7', '::1', 'fd00::/8'])!;
  for (const ok of ['10.1.2.3', '192.168.1.7', '::1', 'fd12::1']) t.ok(trust.check(ok), ok);
  for (const no of ['11.0.0.1', '192.168.1.8', '::2', 'fe80::1', 'garbage', '']) t.notOk(trust.check(no), no);
  for (const bad of ['10.0.0.0/33', 'x', '10.0.0.0/8/1', '::1/129', '10.0.0.0/']) {
    t.throws(() => createTrustedProxies([bad]), { code: 'NODIX_ERR_PROXY_CONFIG' }, bad);
  }
  t.equal(normalisePeerAddress('::ffff:127.0.0.1'), '127.0.0.1');
  t.equal(normalisePeerAddress('::1'), '::1');
});
