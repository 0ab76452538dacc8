import { appendFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { watchRoutesFile } from '../../src/route-table/watch.js';
import { sleep, tempDir, waitFor } from '../helpers.js';

t.test('renames over the file are seen; bursts are debounced into one call', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'routes.json');
  writeFileSync(file, '1');
  let calls = 0;
  const watcher = watchRoutesFile(
    file,
    () => calls++,
    (err) => t.fail(err.message),
    50,
  );
  t.teardown(() => watcher.close());
  for (let i = 0; i < 5; i++) {
    writeFileSync(`${file}.tmp`, String(i));
    renameSync(`${file}.tmp`, file);
  }
  await waitFor(() => calls > 0, 3000, 'change seen');
  await sleep(150);
  t.equal(calls, 1, 'one call for the burst');
  writeFileSync(`${file}.tmp`, 'again');
  renameSync(`${file}.tmp`, file);
  await waitFor(() => calls === 2, 3000, 'a later rename seen too (the new inode is watched)');
  watcher.close();
  writeFileSync(file, 'after close');
  await sleep(150);
  t.equal(calls, 2, 'nothing after close');
});

t.test(
  "writes to other files of the directory call nothing; the file's own writes, removal and return do",
  async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'routes.json');
    writeFileSync(file, 'x');
    let calls = 0;
    const watcher = watchRoutesFile(
      file,
      () => calls++,
      (err) => t.fail(err.message),
      20,
    );
    t.teardown(() => watcher.close());
    await sleep(50);
    for (let i = 0; i < 10; i++) {
      appendFileSync(join(dir, 'proxy.log'), `line ${i}\n`);
      writeFileSync(join(dir, 'routes.json.swp'), String(i));
      await sleep(30);
    }
    await sleep(150);
    t.equal(calls, 0, 'other files are not the routes file');
    writeFileSync(file, 'y');
    await waitFor(() => calls === 1, 3000, 'an in-place write of the file itself is seen');
    unlinkSync(file);
    await waitFor(() => calls === 2, 3000, 'its removal is a change');
    writeFileSync(`${file}.tmp`, 'z');
    renameSync(`${file}.tmp`, file);
    await waitFor(() => calls === 3, 3000, 'and its return by rename');
  },
);

t.test('a directory that cannot be watched is reported, not thrown', async (t) => {
  const errors: string[] = [];
  const watcher = watchRoutesFile(
    '/nonexistent-dir/routes.json',
    () => {},
    (err) => errors.push(err.message),
  );
  watcher.close();
  t.equal(errors.length, 1);
});
