/**
 * The bin's V8 settings (src/lifecycle/v8-settings.ts), in child processes running the built module: the young generation
 * does not grow while the proxy starts, grows to 2 MB semispaces once it serves and no further; a semispace flag
 * given to node wins. The allocation pattern is a proxy's under load: objects that survive a few scavenges.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const FIXTURE = fileURLToPath(new URL('../fixtures/young-generation.mjs', import.meta.url));

async function semispaces(
  nodeArgs: string[],
  nodeOptions?: string,
  fixtureArgs: string[] = [],
): Promise<{ starting: number; serving: number; quiet: number; again: number }> {
  // Through `env`: tap puts its coverage hook into NODE_OPTIONS of every node child it sees spawned.
  const envArgs = nodeOptions === undefined ? ['-u', 'NODE_OPTIONS'] : [`NODE_OPTIONS=${nodeOptions}`];
  const { stdout } = await promisify(execFile)('env', [
    ...envArgs,
    process.execPath,
    ...nodeArgs,
    FIXTURE,
    ...fixtureArgs,
  ]);
  return JSON.parse(stdout);
}

t.test(
  'young generation: held while starting, 2 MB semispaces once serving, regrown after a quiet spell',
  async (t) => {
    const sizes = await semispaces([]);
    // V8 starts at 1 MB; unheld, this allocation takes it to 16 MB while starting (next test).
    t.equal(sizes.starting, 1, 'no growth while starting');
    t.equal(sizes.serving, 2, 'serving: 2 MB semispaces, though the allocation would take V8 to 16');
    t.ok(sizes.quiet < 2, `V8 shrank it in a quiet spell (${sizes.quiet} MB)`);
    // It doubles from wherever V8 shrank it to, so it may end above 2, never at V8's 16.
    t.ok(sizes.again >= 2 && sizes.again < 4, `and it grew back under load (${sizes.again} MB)`);
  },
);

t.test('a semispace flag on the command line or in NODE_OPTIONS is left alone', async (t) => {
  t.match(await semispaces(['--max-semi-space-size=16'], undefined, ['--no-quiet']), {
    starting: 16,
    serving: 16,
  });
  t.match(await semispaces([], '--max-semi-space-size=8', ['--no-quiet']), { starting: 8, serving: 8 });
});
