import t from 'tap';
import {
  NodixProxyError,
  NoHealthyUpstreamError,
  ProxyConfigError,
  ProxyStateError,
  RequestBodyError,
  RouteTableError,
  UpgradeTimeoutError,
  UpstreamBadResponseError,
  UpstreamBodyTimeoutError,
  UpstreamClientClosedError,
  UpstreamClosedError,
  UpstreamConnectError,
  UpstreamConnectTimeoutError,
  UpstreamHeadersTimeoutError,
  UpstreamSocketError,
} from '../src/errors.js';

t.test('every error class has a stable code', async (t) => {
  const table: [NodixProxyError, string, string][] = [
    [new ProxyConfigError('listen: bad'), 'NODIX_ERR_PROXY_CONFIG', 'ProxyConfigError'],
    [new RouteTableError('r.json', 'hosts.a', 'bad'), 'NODIX_ERR_ROUTE_TABLE', 'RouteTableError'],
    [new NoHealthyUpstreamError('a.local'), 'NODIX_ERR_NO_HEALTHY_UPSTREAM', 'NoHealthyUpstreamError'],
    [new UpgradeTimeoutError(10), 'NODIX_ERR_UPGRADE_TIMEOUT', 'UpgradeTimeoutError'],
    [new ProxyStateError('twice'), 'NODIX_ERR_PROXY_STATE', 'ProxyStateError'],
    [new UpstreamConnectError('ECONNREFUSED', 'refused'), 'NODIX_ERR_CONNECT', 'UpstreamConnectError'],
    [new UpstreamConnectTimeoutError(5), 'NODIX_ERR_CONNECT_TIMEOUT', 'UpstreamConnectTimeoutError'],
    [new UpstreamHeadersTimeoutError(5), 'NODIX_ERR_HEADERS_TIMEOUT', 'UpstreamHeadersTimeoutError'],
    [new UpstreamBodyTimeoutError(5), 'NODIX_ERR_BODY_TIMEOUT', 'UpstreamBodyTimeoutError'],
    [new UpstreamClosedError('closed'), 'NODIX_ERR_UPSTREAM_CLOSED', 'UpstreamClosedError'],
    [new UpstreamSocketError('EPROTO', 'tls'), 'NODIX_ERR_UPSTREAM_SOCKET', 'UpstreamSocketError'],
    [new UpstreamBadResponseError('junk'), 'NODIX_ERR_BAD_RESPONSE', 'UpstreamBadResponseError'],
    [new RequestBodyError(), 'NODIX_ERR_REQUEST_BODY', 'RequestBodyError'],
    [new UpstreamClientClosedError(), 'NODIX_ERR_CLIENT_CLOSED', 'UpstreamClientClosedError'],
  ];
  for (const [err, code, name] of table) {
    t.type(err, NodixProxyError);
    t.type(err, Error);
    t.equal(err.code, code);
    t.equal(err.name, name);
  }
  t.equal(new ProxyConfigError('x').exitCode, 2);
  t.equal(new RouteTableError('r.json', '', 'not valid JSON').message, 'r.json: not valid JSON');
  t.equal(new RouteTableError('r.json', 'version', 'must be 1').message, 'r.json: version: must be 1');
});
