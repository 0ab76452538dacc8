import type { CommandIO } from './commands/command.js';

const argv = process.argv.slice(2);
const io: CommandIO = {
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
  env: process.env,
};

// exitCode, not process.exit(): pending output is flushed and long-running commands end on their own terms.
if (argv[0] === 'agent' && argv[1] === 'connect') {
  // Run for every SSH session a coordinator opens: load the relay alone, not every command and its dependencies.
  const { runAgentConnect } = await import('./commands/agent-connect.js');
  process.exitCode = await runAgentConnect(argv.slice(2), io);
} else {
  const { main } = await import('./cli.js');
  process.exitCode = await main(argv, io);
}
