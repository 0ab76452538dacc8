import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { createAgent } from '../../src/agent/server.js';
import { readTokenFile } from '../../src/agent/token.js';
import { api, tempDir } from '../agent/helpers.js';
import { runCli } from './run-cli.js';

const nodix = (argv: string[], cwd: string) => runCli(argv, cwd);

t.test(
  'agent init: a 0700 directory, a 0600 token, the lines to use them; never overwrites by accident',
  async (t) => {
    const dir = await tempDir(t);
    const stateDir = join(dir, 'var', 'lib', 'nodix');
    const made = await nodix(
      ['agent', 'init', '--state-dir', 'var/lib/nodix', '--name', 'web1', '--listen', '0.0.0.0:7500'],
      dir,
    );
    t.equal(made.code, 0, made.stderr);
    const tokenFile = join(stateDir, 'token');
    t.equal((await stat(stateDir)).mode & 0o777, 0o700, 'state directory 0700');
    t.equal((await stat(tokenFile)).mode & 0o777, 0o600, 'token 0600');
    const token = await readTokenFile(tokenFile);
    t.match(token, /^[0-9a-f]{64}$/, '256 random bits');
    t.match(
      made.stdout,
      `nodix agent --state-dir ${stateDir} --token-file ${tokenFile} --listen 0.0.0.0:7500\n`,
    );
    t.match(
      made.stdout,
      /nodix agent print-unit --state-dir .* > \/etc\/systemd\/system\/nodix-agent\.service/,
    );
    t.match(made.stdout, /"web1": \{\n {4}properties: \{\n {6}hostname: "web1",.*\n {6}agentPort: 7500,\n/);

    const again = await nodix(['agent', 'init', '--state-dir', stateDir], dir);
    t.equal(again.code, 2);
    t.match(again.stderr, /^nodix: agent init: .*token exists; keep it, or give --force to replace it/);
    t.equal(again.stderr.trim().split('\n').length, 1, 'one line');
    t.equal(await readTokenFile(tokenFile), token, 'the token is unchanged');

    const forced = await nodix(['agent', 'init', '--state-dir', stateDir, '--force'], dir);
    t.equal(forced.code, 0, forced.stderr);
    const replaced = await readTokenFile(tokenFile);
    t.not(replaced, token, 'replaced with --force');
    t.equal((await stat(tokenFile)).mode & 0o777, 0o600, 'still 0600');

    // The agent takes the directory and the token as made.
    const agent = await createAgent({ host: '127.0.0.1', port: 0, stateDir, token: replaced, log: () => {} });
    t.teardown(() => agent.close());
    t.equal((await api(agent.url, 'GET', '/v1/health', { token: replaced })).status, 200);
    t.match(await readFile(join(stateDir, 'agent.lock'), 'utf8'), /"pid"/);

    const help = await nodix(['agent', 'init', '--help'], dir);
    t.match(help.stdout, /^Usage: nodix agent init --state-dir DIR/);
    const missing = await nodix(['agent', 'init'], dir);
    t.equal(missing.code, 2);
    t.match(missing.stderr, /agent init: missing --state-dir \(see 'nodix agent init --help'\)/);
  },
);
