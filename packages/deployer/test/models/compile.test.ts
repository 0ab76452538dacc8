import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { importTypeScript } from '../../src/models/compile.js';
import { importModel } from '../../src/models/load.js';

const helper = (n: number) => `export const n: number = ${n};\nexport const where = import.meta.dirname;\n`;
const entry = (extra: string) =>
  [
    "import { join } from 'node:path';",
    "import { n, where } from './lib/helper.ts';",
    `export default { n, where, url: import.meta.url, joined: join('a', 'b')${extra} };`,
    '',
  ].join('\n');

async function cacheFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

t.test('compiled models are kept, and compiled again when any of their files changes', async (t) => {
  const dir = t.testdir({ 'model.ts': entry(''), lib: { 'helper.ts': helper(1) } });
  const model = join(dir, 'model.ts');
  const cache = join(dir, 'cache');
  const load = async () => (await importTypeScript(model, cache)).default as Record<string, unknown>;

  const first = await load();
  t.same(first, {
    n: 1,
    where: join(dir, 'lib'),
    url: pathToFileURL(model).href,
    joined: join('a', 'b'),
  });
  const files = await cacheFiles(cache);
  t.equal(files.length, 2, 'one record and one compiled module');
  const compiled = files.find((name) => name.endsWith('.mjs')) as string;
  const record = JSON.parse(await readFile(join(cache, files.find((f) => f.endsWith('.json'))!), 'utf8'));
  t.same(Object.keys(record.inputs).sort(), [join(dir, 'lib', 'helper.ts'), model].sort());

  t.equal(await load(), first, 'unchanged: the kept module itself is imported again');
  t.same(await cacheFiles(cache), files);

  await writeFile(join(dir, 'lib', 'helper.ts'), helper(2));
  t.equal((await load()).n, 2, 'a changed import is seen');
  await writeFile(model, entry(', extra: true'));
  const third = await load();
  t.equal(third.extra, true, 'a changed model is seen');
  t.equal(third.n, 2);
  const after = await cacheFiles(cache);
  t.equal(after.length, 2, 'the replaced compiled modules are deleted');
  t.notOk(after.includes(compiled));

  // A kept module that no longer matches its name (damaged, edited) is compiled again, not run.
  const current = after.find((name) => name.endsWith('.mjs')) as string;
  await writeFile(join(cache, current), 'export default { damaged: true };\n');
  t.same(await load(), third);
  t.notMatch(await readFile(join(cache, current), 'utf8'), /damaged/, 'rewritten from the model');
});

t.test('without a cache directory nothing is kept; compile errors name file, line and column', async (t) => {
  const dir = t.testdir({
    'value.mts': 'const x: number = 3;\nexport default { x };\n',
    'broken.ts': 'export default { a: ;\n',
    'missing-import.ts': "import x from './nowhere.ts';\nexport default x;\n",
  });
  t.same((await importTypeScript(join(dir, 'value.mts'))).default, { x: 3 });
  t.same(await readdir(dir), ['broken.ts', 'missing-import.ts', 'value.mts']);
  await t.rejects(importTypeScript(join(dir, 'broken.ts')), { message: /^broken\.ts:1:21: Unexpected ";"$/ });
  await t.rejects(importTypeScript(join(dir, 'missing-import.ts')), {
    message: /^missing-import\.ts:1:15: Could not resolve "\.\/nowhere\.ts"$/,
  });
});

t.test(
  'models outside any project resolve @nodix/deployer to the CLI’s own (TypeScript and JavaScript)',
  async (t) => {
    // Outside the repository: no node_modules above the models, as for models copied anywhere on a machine.
    const dir = await mkdtemp(join(tmpdir(), 'nodix-models-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const body = [
      "import { targetSpecific } from '@nodix/deployer';",
      'export default typeof targetSpecific;',
      '',
    ].join('\n');
    await writeFile(join(dir, 'model.ts'), body);
    await writeFile(join(dir, 'model.mjs'), body);
    t.equal((await importTypeScript(join(dir, 'model.ts'))).default, 'function', 'TypeScript model');
    t.equal(await importModel('model.mjs', dir), 'function', 'JavaScript model');
  },
);
