/**
 * Optional access log, one line per request, off by default (no cost when off: inbound/node-path.ts checks for null).
 *
 *   127.0.0.1 - - [2026-01-01T10:00:00.000Z] "GET /path HTTP/1.1" 200 webapp1.local http://127.0.0.1:3001 0.412ms
 *
 * Fields: client address, ISO time, request line, status (499: client closed first), virtual host key (`-` when
 * none matched), upstream (`-` when none was contacted), time to the end of the response.
 */
import { createWriteStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Writable } from 'node:stream';

export interface AccessLog {
  write(
    req: Pick<IncomingMessage, 'method' | 'url' | 'httpVersion'>,
    status: number,
    seconds: number,
    address: string,
    host: string | undefined,
    upstream: string | undefined,
  ): void;
  close(): Promise<void>;
}

/** `-` is standard output; any other string a file opened for appending; or a stream the caller owns. */
export function createAccessLog(target: string | Writable): AccessLog {
  const ownStream = typeof target === 'string' && target !== '-';
  const stream: Writable =
    typeof target !== 'string'
      ? target
      : target === '-'
        ? process.stdout
        : createWriteStream(target, { flags: 'a' });
  let failed = false;
  // A full disk or a closed pipe must not take the proxy down: report once, then stop logging.
  stream.on('error', (err) => {
    if (!failed) process.stderr.write(`[proxy] access log disabled: ${(err as Error).message}\n`);
    failed = true;
  });
  return {
    write(req, status, seconds, address, host, upstream) {
      if (failed) return;
      stream.write(
        `${address} - - [${new Date().toISOString()}] "${req.method} ${req.url} HTTP/${req.httpVersion}" ${status} ${host ?? '-'} ${upstream ?? '-'} ${(seconds * 1000).toFixed(3)}ms\n`,
      );
    },
    close() {
      if (!ownStream || failed) return Promise.resolve();
      return new Promise((resolve) => stream.end(resolve));
    },
  };
}
