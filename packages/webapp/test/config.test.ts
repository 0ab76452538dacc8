import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadWebappConfig, WebappConfigError } from '../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'nodix-webapp-config-'));
t.teardown(() => import('node:fs').then((fs) => fs.rmSync(dir, { recursive: true, force: true })));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

t.test('precedence: arguments over environment over file over defaults', async (t) => {
  t.same(loadWebappConfig(['--name', 'a.local'], {}), { name: 'a.local', port: 3000, host: '0.0.0.0' });
  t.same(
    loadWebappConfig([], { NODIX_WEBAPP_NAME: 'b.local', PORT: '3002', NODIX_WEBAPP_HOST: '127.0.0.1' }),
    {
      name: 'b.local',
      port: 3002,
      host: '127.0.0.1',
    },
  );
  const cfg = file('ok.json', JSON.stringify({ name: 'file.local', port: 3005, host: '::1' }));
  t.same(loadWebappConfig([], {}, cfg), { name: 'file.local', port: 3005, host: '::1' });
  t.same(loadWebappConfig(['--port', '3007'], { PORT: '3006', NODIX_WEBAPP_NAME: 'env.local' }, cfg), {
    name: 'env.local',
    port: 3007,
    host: '::1',
  });
});

const bad: Array<[string, string[], NodeJS.ProcessEnv, string | undefined, RegExp]> = [
  ['missing name', [], {}, undefined, /^invalid configuration: name: is required/],
  ['empty name', ['--name', ''], {}, undefined, /name: is required.*value was ""/],
  ['name with a space', ['--name', 'a b'], {}, undefined, /name: must be a virtual host name.*"a b"/],
  ['port too large', ['--name', 'a.local', '--port', '70000'], {}, undefined, /port: .*0 to 65535.*70000/],
  ['port not a number', ['--name', 'a.local', '--port', 'abc'], {}, undefined, /port: .*"abc"/],
  [
    'negative port from env',
    ['--name', 'a.local'],
    { PORT: '-1' },
    undefined,
    /port: is out of range: .*\(value was -1\)/,
  ],
];
for (const [title, argv, env, , expected] of bad) {
  t.test(`bad input: ${title}`, async (t) => {
    const err = t.throws(() => loadWebappConfig(argv, env)) as unknown as WebappConfigError;
    t.type(err, WebappConfigError);
    t.equal(err.code, 'NODIX_ERR_WEBAPP_CONFIG');
    t.equal(err.exitCode, 2);
    t.match(err.message, expected);
    t.notMatch(err.message, /\n/, 'one line');
  });
}

t.test('config file mistakes name the file and the key', async (t) => {
  const unknown = file('unknown.json', JSON.stringify({ name: 'a.local', colour: 'blue' }));
  t.throws(() => loadWebappConfig([], {}, unknown), {
    message: `config file ${unknown}: unknown key 'colour'`,
  });
  const broken = file('broken.json', '{ "name": ');
  t.throws(() => loadWebappConfig([], {}, broken), {
    message: new RegExp(`config file ${broken} is not valid JSON`),
  });
  const yaml = file('webapp.yaml', 'name:\n a.local');
  const err = t.throws(() => loadWebappConfig([], {}, yaml)) as unknown as Error;
  t.match(err.message, new RegExp(`config file ${yaml} is not valid JSON`));
  t.notMatch(err.message, /\n/, 'one line');
  const array = file('array.json', '[]');
  t.throws(() => loadWebappConfig([], {}, array), { message: /must hold a JSON object/ });
  t.throws(() => loadWebappConfig([], {}, join(dir, 'absent.json')), { message: /cannot read config file/ });
  const badPort = file('port.json', JSON.stringify({ name: 'a.local', port: 'http' }));
  t.throws(() => loadWebappConfig([], {}, badPort), { message: /port: .*"http"/ });
});
