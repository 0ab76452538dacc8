import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { joinOptionValues, loadWebappConfig, WebappConfigError } from './config.js';
import { createWebapp, formatAddress } from './webapp.js';

const { version: VERSION } = createRequire(import.meta.url)('../package.json') as { version: string };

const HELP = `Usage: nodix-webapp [options]

A web app that answers every request with its virtual host name.

Options (each also settable from the environment or a JSON config file):
  --name NAME       virtual host name to answer with (env NODIX_WEBAPP_NAME; required)
  --port PORT       TCP port, 0 for any free one (env PORT; default 3000)
  --host ADDRESS    bind address (env NODIX_WEBAPP_HOST; default 0.0.0.0)
  --config FILE     JSON file with any of: name, port, host
  -v, --version     print the version
  -h, --help        show this help

Precedence: arguments, then environment, then the config file, then defaults.
Prints "<name> listening on <host>:<port>" when ready. SIGTERM or SIGINT: stop accepting, finish in-flight
requests (10 s at most), exit 0.
`;

function fail(message: string, code: number): void {
  process.stderr.write(`nodix-webapp: ${message}\n`);
  process.exitCode = code;
}

async function main(argv: string[]): Promise<void> {
  let values: { config?: string; help?: boolean; version?: boolean };
  try {
    // Checked here (strict) so that a mistyped flag is an error, not silently ignored; convict reads the values.
    ({ values } = parseArgs({
      args: joinOptionValues(argv),
      strict: true,
      allowPositionals: false,
      options: {
        name: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    }));
  } catch (err) {
    // parseArgs explains itself over several lines; the first says what is wrong.
    fail(`${(err as Error).message.split('\n')[0]} (see --help)`, 2);
    return;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (values.version) {
    // As `nodix --version`: the version alone, for scripts.
    process.stdout.write(`${VERSION}\n`);
    return;
  }

  let config: ReturnType<typeof loadWebappConfig>;
  try {
    config = loadWebappConfig(argv, process.env, values.config);
  } catch (err) {
    if (err instanceof WebappConfigError) {
      fail(err.message, err.exitCode);
      return;
    }
    throw err;
  }

  const webapp = createWebapp(config);
  let address: { host: string; port: number };
  try {
    address = await webapp.listen();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    fail(`cannot listen on ${formatAddress(config.host, config.port)}: ${e.code ?? e.message}`, 1);
    return;
  }
  process.stdout.write(`${config.name} listening on ${formatAddress(address.host, address.port)}\n`);

  const stop = () => {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    webapp.close().then(() => {
      process.exitCode = 0;
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(
    `nodix-webapp: internal error (this is a bug)\n${(err as Error).stack ?? String(err)}\n`,
  );
  process.exitCode = 1;
});
