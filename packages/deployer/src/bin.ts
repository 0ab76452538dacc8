import { main } from './cli.js';

// exitCode, not process.exit(): pending output is flushed and long-running commands end on their own terms.
process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
  env: process.env,
});
