/**
 * The shape every `nodix` sub-command has. Commands get their streams, working directory and environment from
 * `io` (never from `process`), return their exit code, and never call `process.exit`: that keeps them testable in
 * process and lets the one top-level catch in `cli.ts` turn errors into messages.
 */
export interface OutputStream {
  write(chunk: string): unknown;
}

export interface CommandIO {
  stdout: OutputStream;
  stderr: OutputStream;
  /** Relative paths on the command line are resolved against this. */
  cwd: string;
  env: Record<string, string | undefined>;
}

export interface Command {
  name: string;
  aliases?: readonly string[];
  /** One line for `nodix --help`. */
  summary: string;
  /** The full `--help` text. */
  usage: string;
  run(argv: string[], io: CommandIO): Promise<number>;
}
