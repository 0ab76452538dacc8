/**
 * Optional access log, one line per request, off by default (no cost when off: observe/record.ts builds no entry
 * when there is no log). Formats (`accessLogFormat`):
 *
 *   nodix     127.0.0.1 - - [2026-01-01T10:00:00.000Z] "GET /path HTTP/1.1" 200 webapp1.local http://127.0.0.1:3001 0.412ms 3f9a1c0e-1a
 *             client, ISO time, request line, status (499: client closed first), virtual host key (`-` when none
 *             matched), upstream (`-` when none was contacted), total time, request id.
 *   common    127.0.0.1 - - [01/Jan/2026:10:00:00 +0000] "GET /path HTTP/1.1" 200 13        (NCSA Common Log Format)
 *   combined  common + "referer" "user-agent"                                              (as nginx's `combined`)
 *   json      {"time":..,"requestId":..,"remoteAddr":..,"method":..,"path":..,"protocol":..,"host":..,"vhost":..,
 *              "status":..,"bytesIn":..,"bytesOut":..,"upstream":..,"upstreamTimeMs":..,"totalTimeMs":..,
 *              "userAgent":..,"referer":..}
 *
 * Bytes are body bytes (request body in, response body out), the same on every request path. Upgrades log their
 * handshake; the bytes of the tunnel behind it are not counted.
 */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';

export const ACCESS_LOG_FORMATS = ['nodix', 'common', 'combined', 'json'] as const;
export type AccessLogFormat = (typeof ACCESS_LOG_FORMATS)[number];

/** What a request path reports when a request ends. */
export interface AccessLogEntry {
  requestId: string;
  /** Client address (the peer; IPv4-mapped IPv6 unwrapped). */
  address: string;
  method: string;
  url: string;
  httpVersion: string;
  status: number;
  /** The Host header as sent. */
  host: string;
  /** The virtual host's route-table key; undefined when none matched. */
  vhost: string | undefined;
  /** The upstream origin contacted last; undefined when none was. */
  upstream: string | undefined;
  /** Request sent to the upstream → its response complete (or failed), seconds; -1 when none was contacted. */
  upstreamSeconds: number;
  /** Request head read → response complete, seconds. */
  seconds: number;
  bytesIn: number;
  bytesOut: number;
  /** The request's headers, flat [name, value, ...]: User-Agent and Referer are looked up only by formats that log them. */
  headers: readonly string[];
}

export interface AccessLog {
  write(entry: AccessLogEntry): void;
  close(): Promise<void>;
}

/** The value of header `name` (lower case) in a flat [name, value, ...] array, or ''. */
function headerValue(headers: readonly string[], name: string): string {
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!;
    if (n.length === name.length && n.toLowerCase() === name) return headers[i + 1]!;
  }
  return '';
}

/** A field inside double quotes, as nginx escapes it: `"`, `\` and non-printable bytes as \xHH. */
function quoted(value: string): string {
  return value.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped
    /["\\\x00-\x1f\x7f-\xff]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
let clfSecond = -1;
let clfText = '';
/** `01/Jan/2026:10:00:00 +0000`, computed at most once a second. */
function clfTime(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== clfSecond) {
    clfSecond = second;
    const d = new Date(now);
    const two = (n: number) => String(n).padStart(2, '0');
    clfText = `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
  }
  return clfText;
}

const ms = (seconds: number) => Math.round(seconds * 1e6) / 1000;

const FORMATTERS: Record<AccessLogFormat, (e: AccessLogEntry) => string> = {
  nodix: (e) =>
    `${e.address} - - [${new Date().toISOString()}] "${e.method} ${e.url} HTTP/${e.httpVersion}" ${e.status} ${e.vhost ?? '-'} ${e.upstream ?? '-'} ${(e.seconds * 1000).toFixed(3)}ms ${e.requestId}\n`,
  common: (e) => `${commonLine(e)}\n`,
  combined: (e) =>
    `${commonLine(e)} "${quoted(headerValue(e.headers, 'referer')) || '-'}" "${quoted(headerValue(e.headers, 'user-agent')) || '-'}"\n`,
  json: (e) =>
    `${JSON.stringify({
      time: new Date().toISOString(),
      requestId: e.requestId,
      remoteAddr: e.address,
      method: e.method,
      path: e.url,
      protocol: `HTTP/${e.httpVersion}`,
      host: e.host,
      vhost: e.vhost ?? null,
      status: e.status,
      bytesIn: e.bytesIn,
      bytesOut: e.bytesOut,
      upstream: e.upstream ?? null,
      upstreamTimeMs: e.upstreamSeconds < 0 ? null : ms(e.upstreamSeconds),
      totalTimeMs: ms(e.seconds),
      userAgent: headerValue(e.headers, 'user-agent'),
      referer: headerValue(e.headers, 'referer'),
    })}\n`,
};

function commonLine(e: AccessLogEntry): string {
  return `${e.address} - - [${clfTime()}] "${quoted(`${e.method} ${e.url} HTTP/${e.httpVersion}`)}" ${e.status} ${e.bytesOut === 0 ? '-' : e.bytesOut}`;
}

/** `-` is standard output; any other string a file opened for appending; or a stream the caller owns. */
export function createAccessLog(target: string | Writable, format: AccessLogFormat = 'nodix'): AccessLog {
  const ownStream = typeof target === 'string' && target !== '-';
  const stream: Writable =
    typeof target !== 'string'
      ? target
      : target === '-'
        ? process.stdout
        : createWriteStream(target, { flags: 'a' });
  const line = FORMATTERS[format];
  let failed = false;
  // A full disk or a closed pipe must not take the proxy down: report once, then stop logging.
  stream.on('error', (err) => {
    if (!failed) process.stderr.write(`[proxy] access log disabled: ${(err as Error).message}\n`);
    failed = true;
  });
  return {
    write(entry) {
      if (failed) return;
      stream.write(line(entry));
    },
    close() {
      if (!ownStream || failed) return Promise.resolve();
      return new Promise((resolve) => stream.end(resolve));
    },
  };
}
