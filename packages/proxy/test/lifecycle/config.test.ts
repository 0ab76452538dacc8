import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ProxyConfigError } from '../../src/errors.js';
import {
  DEFAULT_ACME_DIRECTORY,
  DEFAULT_LIMITS,
  DEFAULT_TIMEOUTS,
  formatAddress,
  loadProxySettings,
  parseListen,
} from '../../src/lifecycle/config.js';
import { LETS_ENCRYPT_DIRECTORY } from '../../src/tls/acme/manager.js';
import { tempDir } from '../helpers.js';

t.test('defaults', async (t) => {
  const s = loadProxySettings([], {});
  t.same(s.listen, { host: '0.0.0.0', port: 8080 });
  t.same(s.adminListen, { host: '127.0.0.1', port: 9090 });
  t.equal(s.routes, null);
  t.equal(s.workers, 1);
  t.equal(s.watch, true);
  t.same(s.timeouts, DEFAULT_TIMEOUTS);
  t.same(s.limits, DEFAULT_LIMITS);
  t.same(s.health, { maxFails: 3, cooldownMs: 10_000 });
  t.same(s.trustedProxies, []);
  t.equal(s.underscoresInHeaders, false);
  t.equal(s.accessLog, null);
});

t.test('underscoresInHeaders: flag and environment', async (t) => {
  t.equal(loadProxySettings(['--underscores-in-headers', 'true'], {}).underscoresInHeaders, true);
  t.equal(loadProxySettings([], { NODIX_PROXY_UNDERSCORES_IN_HEADERS: 'true' }).underscoresInHeaders, true);
  t.throws(() => loadProxySettings(['--underscores-in-headers', 'maybe'], {}), /underscoresInHeaders/);
});

t.test(
  'listenTls: off by default; flag, environment and config file; a bad value names the key',
  async (t) => {
    t.equal(loadProxySettings([], {}).listenTls, null);
    t.same(loadProxySettings(['--listen-tls', '127.0.0.1:8443'], {}).listenTls, {
      host: '127.0.0.1',
      port: 8443,
    });
    t.same(loadProxySettings([], { NODIX_PROXY_LISTEN_TLS: '[::1]:443' }).listenTls, {
      host: '::1',
      port: 443,
    });
    const dir = tempDir(t);
    const file = join(dir, 'proxy.json');
    writeFileSync(file, JSON.stringify({ listenTls: ':9443' }));
    t.same(loadProxySettings([], {}, file).listenTls, { host: '0.0.0.0', port: 9443 });
    t.same(
      loadProxySettings(['--listen-tls', '127.0.0.1:1'], { NODIX_PROXY_LISTEN_TLS: '127.0.0.1:2' }, file)
        .listenTls,
      { host: '127.0.0.1', port: 1 },
      'arguments win',
    );
    t.throws(() => loadProxySettings(['--listen-tls', 'example:99999'], {}), {
      name: 'ProxyConfigError',
      message: /listenTls.*99999/,
    });
  },
);

t.test('arguments over environment over file', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'proxy.json');
  writeFileSync(
    file,
    JSON.stringify({
      listen: '127.0.0.1:1000',
      workers: 3,
      timeouts: { header: 1234, shutdown: 0 },
      limits: { maxConnections: 7 },
    }),
  );
  const s = loadProxySettings(
    [
      '--listen',
      '127.0.0.1:0',
      '--admin-listen',
      'off',
      '--header-timeout',
      '500',
      '--trusted-proxies',
      '10.0.0.0/8, ::1',
    ],
    {
      NODIX_PROXY_WORKERS: 'auto',
      NODIX_PROXY_HEADER_TIMEOUT: '999',
      NODIX_PROXY_WATCH: 'false',
      NODIX_PROXY_ACCESS_LOG: '-',
    },
    file,
  );
  t.same(s.listen, { host: '127.0.0.1', port: 0 });
  t.equal(s.adminListen, null);
  t.equal(s.workers, availableParallelism());
  t.equal(s.timeouts.headerMs, 500);
  t.equal(s.timeouts.shutdownMs, 0);
  t.equal(s.limits.maxConnections, 7);
  t.equal(s.watch, false);
  t.equal(s.accessLog, '-');
  t.same(s.trustedProxies, ['10.0.0.0/8', '::1']);
  t.same(loadProxySettings(['--admin-listen', '0'], {}).adminListen, { host: '0.0.0.0', port: 0 });
  t.same(
    loadProxySettings(['--admin-listen', '127.0.0.1:0', '--routes', '/etc/routes.json'], {}).routes,
    '/etc/routes.json',
  );
});

t.test('a bad value is one line naming the key and the value', async (t) => {
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [['--listen', 'nope'], {}, /^invalid configuration: listen: must be HOST:PORT .*"nope"/],
    [['--listen', '127.0.0.1:70000'], {}, /listen: .*port from 0 to 65535.*"127\.0\.0\.1:70000"/],
    [['--listen', '::1:80'], {}, /listen: must bracket an IPv6 address/],
    [['--admin-listen', 'x'], {}, /adminListen: .*"x"/],
    [
      ['--workers', '0'],
      {},
      /workers: is out of range: must be auto or an integer from 1 to 1024 \(value was 0\)/,
    ],
    [['--workers', 'many'], {}, /workers: .*"many"/],
    [
      [],
      { NODIX_PROXY_HEADER_TIMEOUT: 'soon' },
      /timeouts\.header: must be an integer from 1 to 86400000 ms \(value was "soon"\)/,
    ],
    [['--max-header-size', '10'], {}, /limits\.maxHeaderSize: is out of range: must be an integer from 1024/],
    // Negative numbers are values (not options), refused as out of range, with or without `=`.
    [['--header-timeout', '-5'], {}, /timeouts\.header: is out of range: .*\(value was -5\)/],
    [['--header-timeout=-5'], {}, /timeouts\.header: is out of range: .*\(value was -5\)/],
    [['--workers', '-1'], {}, /workers: is out of range: .*\(value was -1\)/],
    [['--routes', '-'], {}, /routes: must be a file path; standard input cannot be re-read/],
    [['--max-fails', '0'], {}, /health\.maxFails/],
    [['--watch', 'maybe'], {}, /watch: must be true or false \(value was "maybe"\)/],
    [['--trusted-proxies', '10.0.0.0/40'], {}, /trustedProxies: .*10\.0\.0\.0\/40/],
    [
      ['--header-timeout', '5000', '--request-timeout', '1000'],
      {},
      /timeouts\.header must not exceed timeouts\.request/,
    ],
  ];
  for (const [argv, env, message] of cases) {
    try {
      loadProxySettings(argv, env);
      t.fail(`accepted ${argv.join(' ')}`);
    } catch (err) {
      t.type(err, ProxyConfigError);
      t.equal((err as ProxyConfigError).code, 'NODIX_ERR_PROXY_CONFIG');
      t.match((err as Error).message, message);
      t.notMatch((err as Error).message, /\n/, 'one line');
    }
  }
});

t.test('a value of - is a value: --access-log - is standard output, not a file named true', async (t) => {
  t.equal(loadProxySettings(['--access-log', '-'], {}).accessLog, '-');
  t.equal(loadProxySettings(['--access-log=-'], {}).accessLog, '-');
  const s = loadProxySettings(['--access-log', '-', '--listen', '127.0.0.1:0'], {});
  t.equal(s.accessLog, '-');
  t.same(s.listen, { host: '127.0.0.1', port: 0 }, 'the flag after it is still read');
  t.equal(loadProxySettings(['--routes', 'r.json', '--watch', 'false'], {}).watch, false);
});

t.test('config file problems name the file', async (t) => {
  const dir = tempDir(t);
  const unknown = join(dir, 'unknown.json');
  writeFileSync(unknown, JSON.stringify({ listne: '1.2.3.4:5' }));
  t.throws(() => loadProxySettings([], {}, unknown), {
    code: 'NODIX_ERR_PROXY_CONFIG',
    message: `config file ${unknown}: unknown key 'listne'`,
  });
  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{');
  t.throws(() => loadProxySettings([], {}, broken), { message: new RegExp(`config file ${broken}`) });
  t.throws(() => loadProxySettings([], {}, join(dir, 'missing.json')), {
    message: /cannot read it \(ENOENT\)/,
  });
});

t.test('listen addresses', async (t) => {
  t.same(parseListen('8080'), { host: '0.0.0.0', port: 8080 });
  t.same(parseListen(':0'), { host: '0.0.0.0', port: 0 });
  t.same(parseListen('[::1]:8080'), { host: '::1', port: 8080 });
  t.same(parseListen({ host: '::', port: 1 }), { host: '::', port: 1 });
  t.throws(() => parseListen({ host: 'x', port: -1 }));
  t.throws(() => parseListen(''));
  t.equal(formatAddress('::1', 80), '[::1]:80');
  t.equal(formatAddress('127.0.0.1', 80), '127.0.0.1:80');
});

t.test(
  'h2 settings: defaults, flag, environment and config file; bounded, a bad value names the key',
  async (t) => {
    t.same(loadProxySettings([], {}).h2, {
      enabled: true,
      maxConcurrentStreams: 128,
      initialWindowSize: 65_535,
      maxSessionMemoryMb: 10,
    });
    t.equal(loadProxySettings(['--h2', 'false'], {}).h2.enabled, false);
    t.equal(
      loadProxySettings([], { NODIX_PROXY_H2_MAX_CONCURRENT_STREAMS: '32' }).h2.maxConcurrentStreams,
      32,
    );
    const file = join(tempDir(t), 'proxy.json');
    writeFileSync(file, JSON.stringify({ h2: { initialWindowSize: 1_048_576, maxSessionMemory: 64 } }));
    const fromFile = loadProxySettings([], {}, file).h2;
    t.equal(fromFile.initialWindowSize, 1_048_576);
    t.equal(fromFile.maxSessionMemoryMb, 64);
    t.throws(() => loadProxySettings(['--h2-max-concurrent-streams', '0'], {}), {
      name: 'ProxyConfigError',
      message: /h2\.maxConcurrentStreams.*out of range.*1 to 10000/,
    });
    t.throws(
      () => loadProxySettings(['--h2-initial-window-size', '2147483648'], {}),
      /h2\.initialWindowSize/,
    );
    t.throws(() => loadProxySettings([], { NODIX_PROXY_H2_MAX_SESSION_MEMORY: '0' }), /h2\.maxSessionMemory/);
    t.throws(() => loadProxySettings(['--h2', 'maybe'], {}), /h2\.enabled/);
  },
);

t.test('ACME settings: defaults, flags, environment, and one-line errors', async (t) => {
  const s = loadProxySettings([], {});
  t.same(s.acme, {
    dir: 'acme',
    directoryUrl: 'https://acme-v02.api.letsencrypt.org/directory',
    email: null,
    caFile: null,
    renewDays: 30,
  });
  t.equal(DEFAULT_ACME_DIRECTORY, LETS_ENCRYPT_DIRECTORY);
  t.equal(
    loadProxySettings([], { STATE_DIRECTORY: '/var/lib/nodix-proxy' }).acme.dir,
    '/var/lib/nodix-proxy/acme',
  );
  const given = loadProxySettings(
    [
      '--acme-dir',
      '/srv/acme',
      '--acme-directory',
      'https://127.0.0.1:14000/dir',
      '--acme-email',
      'ops@example.org',
      '--acme-ca',
      '/etc/pebble.pem',
    ],
    { NODIX_PROXY_ACME_RENEW_DAYS: '10' },
  );
  t.same(given.acme, {
    dir: '/srv/acme',
    directoryUrl: 'https://127.0.0.1:14000/dir',
    email: 'ops@example.org',
    caFile: '/etc/pebble.pem',
    renewDays: 10,
  });
  t.throws(() => loadProxySettings(['--acme-renew-days', '0'], {}), {
    message: /^invalid configuration: acme\.renewDays: .*1.*365/,
  });
  t.throws(() => loadProxySettings(['--acme-directory', 'letsencrypt'], {}), {
    message: /^invalid configuration: acme\.directory: must be an http\(s\) URL/,
  });
  t.throws(() => loadProxySettings(['--acme-email', 'nobody'], {}), {
    message: /^invalid configuration: acme\.email: must be an email address/,
  });
});
