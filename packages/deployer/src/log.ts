import type { OutputStream } from './commands/command.js';

/**
 * Log lines say where they come from: `[coordinator] ...`, `[target: test1] ...`, so that the interleaved output of
 * a deploy over several machines can still be read.
 */
export interface Logger {
  readonly source: string;
  info(message: string): void;
  warn(message: string): void;
  /** A logger for the same stream with another source, e.g. `log.forTarget('test1')`. */
  forTarget(target: string): Logger;
}

export const COORDINATOR = 'coordinator';

export function createLogger(stream: OutputStream, source: string = COORDINATOR): Logger {
  const prefix = `[${source}] `;
  return {
    source,
    info(message) {
      stream.write(`${prefix}${message}\n`);
    },
    warn(message) {
      stream.write(`${prefix}warning: ${message}\n`);
    },
    forTarget(target) {
      return createLogger(stream, `target: ${target}`);
    },
  };
}
