import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { RouteTableError } from '../../src/errors.js';
import { loadRouteTableFile, parseRouteTable } from '../../src/route-table/load.js';
import { tempDir } from '../helpers.js';

t.test('loads a file; errors name the file', async (t) => {
  const dir = tempDir(t);
  const good = join(dir, 'routes.json');
  writeFileSync(
    good,
    JSON.stringify({ version: 1, hosts: { 'a.local': { upstreams: ['http://127.0.0.1:1'] } } }),
  );
  const loaded = await loadRouteTableFile(good);
  t.equal(loaded.table.hosts.length, 1);
  t.match(loaded.text, /a\.local/);

  const missing = join(dir, 'missing.json');
  await t.rejects(loadRouteTableFile(missing), {
    code: 'NODIX_ERR_ROUTE_TABLE',
    file: missing,
    message: /cannot read the file \(ENOENT\)/,
  });

  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{"version": 1, "hosts": {');
  await t.rejects(loadRouteTableFile(broken), {
    file: broken,
    key: '',
    message: new RegExp(`^${broken}: not valid JSON`),
  });

  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ version: 1, hosts: { 'a.local': { upstreams: ['nope'] } } }));
  await t.rejects(loadRouteTableFile(bad), {
    file: bad,
    key: 'hosts["a.local"].upstreams[0]',
    message: /must be/,
  });
});

t.test('parseRouteTable labels text from elsewhere', async (t) => {
  t.throws(() => parseRouteTable('[', 'POST body'), RouteTableError);
  t.throws(() => parseRouteTable('[', 'POST body'), { message: /^POST body: not valid JSON/ });
});

t.test(
  'a file whose text is unchanged is not parsed again; the document is re-read from the text',
  async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'routes.json');
    const doc = { version: 1, hosts: { 'a.local': { upstreams: ['http://127.0.0.1:1'] } } };
    writeFileSync(file, JSON.stringify(doc));
    const first = await loadRouteTableFile(file);
    t.equal(await loadRouteTableFile(file, first.text), null, 'same text: null, nothing parsed');

    // A changed text is parsed and checked as usual.
    writeFileSync(file, '{');
    await t.rejects(loadRouteTableFile(file, first.text), { message: /not valid JSON/ });
    writeFileSync(file, JSON.stringify({ ...doc, errorPage: 'x' }));
    const changed = await loadRouteTableFile(file, first.text);
    t.equal(changed?.table.errorPages['404'], 'x');

    t.same(first.table.config, doc, 'config: the document as given');
    t.not(first.table.config, first.table.config, 'parsed from the text on each read, never kept');
  },
);

t.test('a file that is not JSON: one line with the file, line and column (YAML too)', async (t) => {
  const dir = tempDir(t);
  const cases: [string, RegExp][] = [
    [
      'version: 1\nhosts:\n  webapp1.local:\n    upstreams: [http://127.0.0.1:3001]\n',
      /: not valid JSON at line 1, column 1: expected a value, found "version: 1" \(the routes file must be JSON; YAML/,
    ],
    [
      '{"version": 1,\n "hosts": {\n',
      /at line 3, column 1: expected a property name in double quotes, found the end/,
    ],
    ['{"version": 1,\n  "hosts" {}}', /at line 2, column 11: expected ':', found "\{\}\}"/],
    ['{"a": "x\ny"}', /at line 1, column 9: expected a closing quote \(a raw control character/],
    ['{"a": tru}', /at line 1, column 10: expected "true", found "\}"/],
    [
      '{"a": 1}\n\n  b: 2\n',
      /at line 3, column 3: expected the end of the file after the JSON value, found "b: 2"/,
    ],
    ['', /at line 1, column 1: expected a value, found the end of the file/],
    ['{"a": [1, 2,]}', /at line 1, column 13: expected a value, found "\]\}"/],
  ];
  for (const [text, message] of cases) {
    const file = join(dir, 'routes.yaml');
    writeFileSync(file, text);
    const err = await loadRouteTableFile(file).then(
      () => null,
      (e: unknown) => e as RouteTableError,
    );
    t.type(err, RouteTableError, JSON.stringify(text));
    t.match(err?.message, new RegExp(`^${file}: `));
    t.match(err?.message, message);
    t.notMatch(err?.message, /[\n\r]/, 'one line');
  }
});
