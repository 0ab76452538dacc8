import { readFileSync } from 'node:fs';
import convict from 'convict';

/** The webapp's settings, after defaults, file, environment and arguments have been applied (in that order). */
export interface WebappConfig {
  name: string;
  port: number;
  host: string;
}

/** A configuration mistake: the CLI prints `message` as one line and exits 2. */
export class WebappConfigError extends Error {
  readonly code = 'NODIX_ERR_WEBAPP_CONFIG';
  readonly exitCode = 2;
}

// Virtual host names as nginx accepts them in server_name: labels of letters, digits, '-', '_', joined by dots.
const HOST_NAME =
  /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/i;

function assertHostName(value: unknown): void {
  if (value === '') {
    throw new Error('is required: give --name or NODIX_WEBAPP_NAME (value was "")');
  }
  if (typeof value !== 'string') {
    throw new Error(`must be a virtual host name (value was ${JSON.stringify(value)})`);
  }
  if (!HOST_NAME.test(value)) {
    throw new Error(`must be a virtual host name such as webapp1.local (value was ${JSON.stringify(value)})`);
  }
}

function assertBindAddress(value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw new Error(`must be a non-empty bind address (value was ${JSON.stringify(value)})`);
  }
}

// Arguments and the environment arrive as strings. Only plain digits become a number, so that anything else
// reaches the validator as typed and the message can name it.
convict.addFormat({
  name: 'nodix-port',
  coerce: (value: unknown) =>
    typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value,
  validate(value: unknown) {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw new Error(`must be a TCP port from 0 to 65535 (value was ${JSON.stringify(value)})`);
    }
    if (value < 0 || value > 65535) {
      throw new Error(`is out of range: must be a TCP port from 0 to 65535 (value was ${value})`);
    }
  },
});

/**
 * `--port VALUE` → `--port=VALUE` whatever VALUE looks like, so that `--port -5` is a value (refused as out of
 * range) rather than "ambiguous" to node's parseArgs or a lone flag to convict's argument parser. A long option
 * is never taken as a value; a flag at the end is left for parseArgs to report.
 */
export function joinOptionValues(argv: readonly string[]): string[] {
  const takesValue = new Set(['--name', '--port', '--host', '--config']);
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--') return joined.concat(argv.slice(i));
    if (takesValue.has(argv[i]!) && value !== undefined && !value.startsWith('--')) {
      joined.push(`${argv[i]}=${value}`);
      i++;
    } else joined.push(argv[i]!);
  }
  return joined;
}

function createSchema(argv: string[], env: NodeJS.ProcessEnv) {
  return convict<WebappConfig>(
    {
      name: {
        doc: 'The virtual host name this web app answers with, e.g. webapp2.local.',
        format: assertHostName,
        default: '',
        env: 'NODIX_WEBAPP_NAME',
        arg: 'name',
      },
      port: {
        doc: 'TCP port to listen on; 0 picks a free one. PORT, as the original wrapper exported it.',
        format: 'nodix-port',
        default: 3000,
        env: 'PORT',
        arg: 'port',
      },
      host: {
        doc: 'Address to bind to.',
        format: assertBindAddress,
        default: '0.0.0.0',
        env: 'NODIX_WEBAPP_HOST',
        arg: 'host',
      },
    },
    { args: argv, env },
  );
}

/**
 * Loads the configuration: defaults, then `configFile` (JSON), then the environment, then `argv`.
 * Throws WebappConfigError naming the key and the value on any mistake, unknown keys included.
 */
export function loadWebappConfig(argv: string[], env: NodeJS.ProcessEnv, configFile?: string): WebappConfig {
  const config = createSchema(joinOptionValues(argv), env);
  if (configFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(configFile, 'utf8');
    } catch (err) {
      throw new WebappConfigError(`cannot read config file ${configFile}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      // V8 quotes the text, raw newlines included: escape them, an error is one line.
      const reason = (err as Error).message.replace(/\r?\n/g, '\\n');
      throw new WebappConfigError(`config file ${configFile} is not valid JSON: ${reason}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new WebappConfigError(`config file ${configFile} must hold a JSON object`);
    }
    const unknown = Object.keys(parsed).filter((key) => !['name', 'port', 'host'].includes(key));
    if (unknown.length > 0) {
      throw new WebappConfigError(`config file ${configFile}: unknown key '${unknown[0]}'`);
    }
    // load() re-applies the environment and the arguments on top, so they keep precedence over the file.
    config.load(parsed);
  }
  try {
    config.validate({ allowed: 'strict' });
  } catch (err) {
    // convict joins every problem with newlines; one line (the first) is what the user needs to act on.
    const first = String((err as Error).message).split('\n')[0] ?? 'invalid configuration';
    throw new WebappConfigError(`invalid configuration: ${first.replace(/: value was .*$/, '')}`);
  }
  return { name: config.get('name'), port: config.get('port'), host: config.get('host') };
}
