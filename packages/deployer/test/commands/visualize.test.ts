import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from './run-cli.js';

/** `nodix visualize -o FILE`: the format follows the extension; one it cannot write is refused, not filled with DOT. */

const nodix = (argv: string[], cwd: string) => runCli(argv, cwd);

t.test('the output format comes from the extension of -o', async (t) => {
  const dir = t.testdir({
    'infra.json': JSON.stringify({ test1: { properties: { hostname: 'test1' } } }),
    'services.json': JSON.stringify({
      webapp1: { name: 'webapp1', type: 'webapp', dnsName: 'webapp1.local', port: 3001 },
    }),
    'dist.json': JSON.stringify({ webapp1: ['test1'] }),
  });
  const models = ['visualize', '-s', 'services.json', '-i', 'infra.json', '-d', 'dist.json'];

  for (const file of ['out.dot', 'out.gv', 'OUT.DOT']) {
    const result = await nodix([...models, '-o', file], dir);
    t.equal(result.code, 0, `${file}: ${result.stderr}`);
    t.match(readFileSync(join(dir, file), 'utf8'), /^digraph /, `${file} holds DOT`);
  }
  const svg = await nodix([...models, '-o', 'out.svg'], dir);
  t.equal(svg.code, 0, svg.stderr);
  t.match(readFileSync(join(dir, 'out.svg'), 'utf8'), /<svg[\s\S]*webapp1\.local/, 'out.svg holds SVG');

  const refused: Array<[string[], RegExp]> = [
    [
      ['-o', 'out.png'],
      /^nodix: visualize: -o out\.png: unsupported extension '\.png'; supported: \.dot, \.gv, \.svg \(for PNG: write \.dot and run Graphviz's dot -Tpng\)\n$/,
    ],
    [['-o', 'out.pdf'], /unsupported extension '\.pdf'/],
    [['-o', 'out'], /-o out: no extension; supported: \.dot, \.gv, \.svg/],
    [['-o', 'mismatch.dot', '--format', 'svg'], /--format svg does not match -o mismatch\.dot \(dot\)/],
    [['--format', 'png'], /--format must be dot or svg, not 'png'/],
  ];
  for (const [extra, message] of refused) {
    const result = await nodix([...models, ...extra], dir);
    t.equal(result.code, 2, `${extra.join(' ')}: exit 2`);
    t.match(result.stderr, message, extra.join(' '));
    t.equal(result.stderr.trim().split('\n').length, 1, 'one line');
  }
  for (const file of ['out.png', 'out.pdf', 'out', 'mismatch.dot'])
    t.notOk(existsSync(join(dir, file)), `${file} not written`);

  const stdout = await nodix([...models, '-o', '-'], dir);
  t.match(stdout.stdout, /^digraph /, '-o - is DOT on stdout');
});
