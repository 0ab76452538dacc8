import t from 'tap';
import { ModelLoadError } from '../../src/errors.js';
import { evaluateModel, importModel } from '../../src/models/load.js';

t.test('model files of every kind, as a value or a function', async (t) => {
  const dir = t.testdir({
    'value.ts': `const targets: Record<string, unknown> = { test1: { properties: { capacity: 10 } } };\nexport default targets;\n`,
    'function.mts': `export default ({ count = 4 }: { count?: number }) => ({ count });\n`,
    'plain.js': `export default { kind: 'js' };\n`,
    'plain.mjs': `export default async () => ({ kind: 'mjs' });\n`,
    'data.json': `{ "kind": "json" }`,
  });
  t.same(await importModel('value.ts', dir), { test1: { properties: { capacity: 10 } } });
  t.same(await evaluateModel(await importModel('function.mts', dir), { count: 20 }, 'function.mts'), {
    count: 20,
  });
  t.same(await importModel('plain.js', dir), { kind: 'js' });
  t.same(await evaluateModel(await importModel('plain.mjs', dir), {}, 'plain.mjs'), { kind: 'mjs' });
  t.same(await importModel('data.json', dir), { kind: 'json' });
});

t.test('files that cannot be models', async (t) => {
  const dir = t.testdir({
    'broken.ts': `export default { a: ;\n`,
    'named.ts': `export const services = {};\n`,
    'throws.ts': `export default () => {\n  throw new Error('no services today');\n};\n`,
    'bad.json': `{ "a": }`,
    'notes.txt': 'hello',
    folder: {},
  });
  const cases: [string, RegExp][] = [
    ['missing.ts', /^missing\.ts: no such file$/],
    ['folder', /^folder: unsupported model file type '\(none\)'/],
    [
      'notes.txt',
      /^notes\.txt: unsupported model file type '\.txt'; use \.ts, \.mts, \.js, \.mjs or \.json$/,
    ],
    ['broken.ts', /^broken\.ts: cannot be loaded: /],
    ['named.ts', /^named\.ts: has no default export/],
    ['bad.json', /^bad\.json: is not valid JSON: /],
  ];
  for (const [file, message] of cases) {
    await t.rejects(importModel(file, dir), ModelLoadError, file);
    await importModel(file, dir).catch((error: Error) => t.match(error.message, message, file));
  }
  const throwing = await importModel('throws.ts', dir);
  await t.rejects(
    evaluateModel(throwing, {}, 'throws.ts'),
    {
      message: /^throws\.ts: the model function threw: no services today \(at throws\.ts:2:\d+\)$/,
      exitCode: 2,
    },
    'a throwing model function says where it threw',
  );
});
