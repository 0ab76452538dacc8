import cluster from 'node:cluster';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { ProxyConfigError, RouteTableError } from './errors.js';
import { checkConfiguration, settingsSources } from './lifecycle/check.js';
import { isProxyWorker, proxyOptionsFromSettings, runWorker, startPrimary } from './lifecycle/cluster.js';
import {
  attachFlagValues,
  envName,
  formatAddress,
  type ListenAddress,
  loadProxySettings,
  type ProxySettings,
  SETTINGS,
  VALUE_FLAGS,
} from './lifecycle/config.js';
import { createProxy } from './lifecycle/create-proxy.js';
import { applyStartupV8Settings, startServingV8Settings } from './lifecycle/v8-settings.js';

const { version: VERSION } = createRequire(import.meta.url)('../package.json') as { version: string };

function help(): string {
  const rows = SETTINGS.map((row) => {
    const flag = `  --${row.flag} ${row.flag === 'workers' ? 'N|auto' : 'VALUE'}`;
    return `${flag.padEnd(40)} ${row.doc}\n${''.padEnd(41)}(config ${row.key}, env ${envName(row)}, default ${JSON.stringify(row.default)})`;
  });
  return `Usage: nodix-proxy [options]

The per-machine reverse proxy: routes requests by Host to the web apps deployed on this machine.

Options (each also settable in a JSON config file and from the environment):
${rows.join('\n')}
  --config FILE                            JSON file with any of the keys above (nested: {"timeouts": {"header": 5000}})
  --check                                  check the settings and the routes file, print a summary, exit (0: valid,
                                           2: not); opens no port (as nginx -t)
  -v, --version                            print the version
  -h, --help                               show this help

Precedence: arguments, then environment, then the config file, then defaults.
Prints "nodix-proxy listening on HOST:PORT (admin HOST:PORT)" with the bound ports once ready (then
", TLS on HOST:PORT" with --listen-tls).
HTTPS: --listen-tls HOST:PORT; each route-table host names its certificate ("tls": {"cert": FILE, "key": FILE}
or "acme"), "defaultTls" serves names without one; see the README's TLS section.
SIGHUP or POST /reload on the admin listener re-reads the routes file; the file is also watched.
SIGTERM/SIGINT: stop accepting, let in-flight requests finish (shutdown timeout), exit 0.
`;
}

function fail(message: string, code: number): void {
  process.stderr.write(`nodix-proxy: ${message}\n`);
  process.exitCode = code;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/** `nodix-proxy listening on HOST:PORT (admin HOST:PORT|off)`, then `, TLS on HOST:PORT` when TLS listens. */
function readyLine(listen: ListenAddress, admin: ListenAddress | null, tls: ListenAddress | null): string {
  return `nodix-proxy listening on ${formatAddress(listen.host, listen.port)} (admin ${admin === null ? 'off' : formatAddress(admin.host, admin.port)})${tls === null ? '' : `, TLS on ${formatAddress(tls.host, tls.port)}`}\n`;
}

async function main(argv: string[]): Promise<void> {
  let values: { config?: string; help?: boolean; version?: boolean; check?: boolean };
  try {
    // Checked here (strict) so that a mistyped flag is an error, not silently ignored; convict reads the values.
    const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
      config: { type: 'string' },
      check: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    };
    for (const row of SETTINGS) options[row.flag] = { type: 'string' };
    ({ values } = parseArgs({
      args: attachFlagValues(argv, VALUE_FLAGS),
      strict: true,
      allowPositionals: false,
      options,
    }) as {
      values: typeof values;
    });
  } catch (err) {
    // parseArgs explains itself over several lines; the first says what is wrong.
    fail(`${(err as Error).message.split('\n')[0]} (see --help)`, 2);
    return;
  }
  if (values.help) {
    process.stdout.write(help());
    return;
  }
  if (values.version) {
    // As `nodix --version`: the version alone, for scripts.
    process.stdout.write(`${VERSION}\n`);
    return;
  }

  let settings: ProxySettings;
  try {
    settings = loadProxySettings(argv, process.env, values.config);
  } catch (err) {
    if (err instanceof ProxyConfigError) return fail(err.message, err.exitCode);
    throw err;
  }
  if (values.check) {
    const result = await checkConfiguration(settings, settingsSources(argv, process.env, values.config));
    for (const warning of result.warnings) process.stderr.write(`nodix-proxy: ${warning}\n`);
    if (result.ok) process.stdout.write(`${result.summary}\n`);
    else for (const error of result.errors) fail(error, 2);
    return;
  }

  if (settings.workers > 1) return runCluster(settings);

  let proxy: ReturnType<typeof createProxy>;
  try {
    proxy = createProxy({ ...proxyOptionsFromSettings(settings), log });
  } catch (err) {
    if (err instanceof RouteTableError || err instanceof ProxyConfigError)
      return fail(err.message, err.exitCode);
    throw err;
  }
  let addresses: Awaited<ReturnType<typeof proxy.listen>>;
  try {
    addresses = await proxy.listen();
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
    await proxy.close({ timeoutMs: 0 });
    return fail(
      `cannot listen: ${e.code ?? e.message}${e.address === undefined ? '' : ` (${e.address}:${e.port})`}`,
      1,
    );
  }
  process.stdout.write(readyLine(addresses.listen, addresses.admin, addresses.tls));
  startServingV8Settings();

  const onHangup = () => {
    // Failures are logged (file, key, reason) by the proxy; the last good table keeps serving.
    proxy.reload().catch(() => {});
  };
  const stop = () => {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    process.off('SIGHUP', onHangup);
    log('[proxy] shutting down: draining in-flight requests');
    proxy.close().then(() => {
      process.exitCode = 0;
    });
  };
  process.on('SIGHUP', onHangup);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function runCluster(settings: ProxySettings): Promise<void> {
  let primary: Awaited<ReturnType<typeof startPrimary>>;
  try {
    primary = await startPrimary(settings, log);
  } catch (err) {
    if (err instanceof RouteTableError) return fail(err.message, err.exitCode);
    const e = err as NodeJS.ErrnoException;
    return fail(`cannot start: ${e.code ?? e.message}`, 1);
  }
  process.stdout.write(readyLine(primary.listen, primary.admin, settings.listenTls));
  const onHangup = () => {
    primary.reload().catch(() => {});
  };
  const stop = () => {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    process.off('SIGHUP', onHangup);
    log('[proxy primary] shutting down: workers drain in-flight requests');
    primary.close().then(() => {
      process.exitCode = 0;
    });
  };
  process.on('SIGHUP', onHangup);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const crash = (err: unknown) => {
  process.stderr.write(
    `nodix-proxy: internal error (this is a bug)\n${(err as Error).stack ?? String(err)}\n`,
  );
  process.exitCode = 1;
};

applyStartupV8Settings();
if (cluster.isWorker && isProxyWorker()) {
  try {
    runWorker(log, startServingV8Settings);
  } catch (err) {
    crash(err);
  }
} else {
  main(process.argv.slice(2)).catch(crash);
}
