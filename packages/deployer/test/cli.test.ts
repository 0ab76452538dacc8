import t from 'tap';
import { main, topLevelUsage } from '../src/cli.js';
import type { Command, CommandIO } from '../src/commands/index.js';
import { parseCommandArgs } from '../src/commands/parse-args.js';
import { NodixError, UsageError } from '../src/errors.js';
import { createLogger } from '../src/log.js';

function io(): CommandIO & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (chunk: string) => (out += chunk) },
    stderr: { write: (chunk: string) => (err += chunk) },
    cwd: process.cwd(),
    env: {},
    out: () => out,
    err: () => err,
  };
}

const echo: Command = {
  name: 'echo',
  aliases: ['say'],
  summary: 'prints its --text',
  usage: 'Usage: nodix echo --text TEXT',
  async run(argv, io) {
    const parsed = parseCommandArgs(echo, argv, io, { text: { type: 'string' } });
    if (!parsed) return 0;
    if (parsed.values.text === 'fail') throw new NodixError('it failed', { code: 'NODIX_ERR_TEST' });
    if (parsed.values.text === 'usage') throw new UsageError('bad usage');
    if (parsed.values.text === 'bug') throw new TypeError('undefined is not a function');
    io.stdout.write(`${parsed.values.text}\n`);
    return 0;
  },
};

t.test('dispatch, help and the one top-level catch', async (t) => {
  const cases: { argv: string[]; code: number; out?: RegExp; err?: RegExp }[] = [
    { argv: ['echo', '--text', 'hi'], code: 0, out: /^hi\n$/ },
    { argv: ['say', '--text', 'hi'], code: 0, out: /^hi\n$/ },
    { argv: ['echo', '--help'], code: 0, out: /^Usage: nodix echo --text TEXT\n$/ },
    { argv: ['echo', '-h'], code: 0, out: /^Usage: nodix echo/ },
    { argv: ['--help'], code: 0, out: /Commands:\n {2}echo {6}prints its --text \(alias: say\)/ },
    { argv: [], code: 2, err: /^Usage: nodix <command>/ },
    { argv: ['nope'], code: 2, err: /^nodix: unknown command 'nope' \(see 'nodix --help'\)\n$/ },
    {
      argv: ['echo', '--nope'],
      code: 2,
      err: /^nodix: echo: unknown option '--nope' \(see 'nodix echo --help'\)\n$/,
    },
    { argv: ['echo', '--text'], code: 2, err: /^nodix: echo: option '--text <value>' needs a value/ },
    { argv: ['echo', '--help=yes'], code: 2, err: /^nodix: echo: option '-h, --help' takes no value/ },
    { argv: ['echo', 'stray'], code: 2, err: /^nodix: echo: unexpected argument 'stray'/ },
    { argv: ['echo', '--text', 'fail'], code: 1, err: /^nodix: it failed\n$/ },
    { argv: ['echo', '--text', 'usage'], code: 2, err: /^nodix: bad usage\n$/ },
    {
      argv: ['echo', '--text', 'bug'],
      code: 1,
      err: /^nodix: internal error \(this is a bug\)\nTypeError: undefined is not a function\n {4}at /,
    },
    // `<bin> <version>`, as nodix-proxy and nodix-webapp print it; on a command too.
    { argv: ['--version'], code: 0, out: /^nodix \d+\.\d+\.\d+\n$/ },
    { argv: ['echo', '--version'], code: 0, out: /^nodix \d+\.\d+\.\d+\n$/ },
  ];
  for (const { argv, code, out, err } of cases) {
    const streams = io();
    t.equal(await main(argv, streams, [echo]), code, `${argv.join(' ')}: exit code`);
    if (out) t.match(streams.out(), out, `${argv.join(' ')}: stdout`);
    if (err) t.match(streams.err(), err, `${argv.join(' ')}: stderr`);
  }
});

t.test('the real registry lists the planning commands', async (t) => {
  for (const name of ['gendist', 'port-assign', 'manifest', 'visualize'])
    t.match(topLevelUsage(), `  ${name} `);
});

t.test('log lines say where they come from', async (t) => {
  const streams = io();
  const log = createLogger(streams.stderr);
  log.info('building manifests');
  log.forTarget('test1').warn('slow');
  t.equal(streams.err(), '[coordinator] building manifests\n[target: test1] warning: slow\n');
});
