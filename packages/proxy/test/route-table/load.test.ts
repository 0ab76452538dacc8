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
