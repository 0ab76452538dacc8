import { main } from '../../src/cli.js';

/** Runs `nodix argv` in process through the real CLI entry, collecting what it prints. */
export async function runCli(argv: string[], cwd: string, env: Record<string, string | undefined> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    cwd,
    env: { HOME: cwd, ...env },
  });
  return { code, stdout, stderr };
}
