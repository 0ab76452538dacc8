/**
 * Every response the proxy writes itself comes from here: `statusForError` is the one place that turns an
 * upstream failure into a status, and the writers below the one place that writes the proxy's own answers —
 * error pages through a ServerResponse (`sendErrorPage`), as bytes (`errorResponse`, the fast path), on a raw
 * socket (`sendErrorPageOnSocket`, upgrades) or an HTTP/2 stream (`sendErrorPageOnStream`), and the short bodiless refusals (`sendPlainOnSocket`: node:http's
 * parse errors, 408 timeouts; `PLAIN_RESPONSES`, which the fast path writes as is). Reason phrases come from one
 * table (`REASONS`).
 *
 *   400  malformed, missing (HTTP/1.1) or duplicate Host; HTTP/0.9; a target neither origin- nor http(s) absolute-form
 *   431  more header lines than a head may have (inbound/route.ts)
 *   501  a transfer coding other than chunked
 *   404  no virtual host for this Host (the original's "This web application is unavailable at the moment!")
 *   502  upstream refused, reset or closed before a response, or answered something that is not HTTP
 *   503  every upstream of the virtual host is marked down
 *   504  connect timeout, or no response headers within the upstream headers timeout
 *   505  an HTTP version other than 1.0 and 1.1 (inbound/route.ts)
 *
 * An error after the response headers went out cannot become a status any more: inbound/node-path.ts destroys the client
 * connection instead, so the client sees a truncated response rather than a wrong one.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  NoHealthyUpstreamError,
  RequestBodyError,
  UpgradeTimeoutError,
  UpstreamBadResponseError,
  UpstreamBodyTimeoutError,
  UpstreamClientClosedError,
  UpstreamClosedError,
  UpstreamConnectError,
  UpstreamConnectTimeoutError,
  UpstreamHeadersTimeoutError,
  UpstreamSocketError,
} from '../errors.js';
import type { ErrorPageStatus } from '../route-table/types.js';

export type ErrorStatus = 400 | 404 | 421 | 431 | 501 | 502 | 503 | 504 | 505;

/**
 * The one table from failure to status, keyed by error class (errors.ts), never by a code string: a class
 * missing here is a 502, and a renamed code changes nothing.
 */
const STATUS_BY_CLASS = new Map<abstract new (...args: never[]) => Error, 502 | 503 | 504>([
  [NoHealthyUpstreamError, 503],
  [UpstreamConnectError, 502],
  [UpstreamConnectTimeoutError, 504],
  [UpstreamHeadersTimeoutError, 504],
  [UpgradeTimeoutError, 504],
  [UpstreamBodyTimeoutError, 502],
  [UpstreamClosedError, 502],
  [UpstreamSocketError, 502],
  [UpstreamBadResponseError, 502],
  [RequestBodyError, 502],
  [UpstreamClientClosedError, 502],
]);

/** The status for an error raised while forwarding, before any response header was sent. */
export function statusForError(err: unknown): 502 | 503 | 504 {
  if (err === null || typeof err !== 'object') return 502;
  return STATUS_BY_CLASS.get((err as Error).constructor as new () => Error) ?? 502;
}

/** Connect-phase failures: nothing reached the upstream, so the request may go to another one. */
export function isConnectError(err: unknown): boolean {
  return err instanceof UpstreamConnectError || err instanceof UpstreamConnectTimeoutError;
}

/** A connected socket closed or reset before a response: what a keep-alive socket the upstream closed looks like. */
export function isSocketError(err: unknown): boolean {
  return err instanceof UpstreamClosedError;
}

/** How a failure is named in the log: the system's code for socket errors (ECONNREFUSED), else the class's code. */
export function failureLabel(err: Error): string {
  const errno = (err as { errno?: unknown }).errno;
  if (typeof errno === 'string' && errno !== '') return errno;
  return (err as { code?: string }).code ?? err.name;
}

/** Methods whose retry cannot repeat a side effect (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * Whether a request that failed before any of its response went out gets its one retry (both request paths):
 * after a failed connect, when nothing of its body was read yet (nothing reached any upstream); after a socket
 * error, when it went out on a reused keep-alive connection, has no body and is idempotent, which is what an
 * upstream closing an idle connection just as the request arrives looks like. `body` is the request body
 * (request-body.ts), null when there is none.
 */
export function mayRetry(
  err: unknown,
  connectFailed: boolean,
  method: string,
  call: { readonly reused: boolean } | null,
  body: { readonly readableDidRead: boolean } | null,
): boolean {
  if (connectFailed) return body === null || !body.readableDidRead;
  return body === null && call?.reused === true && isSocketError(err) && IDEMPOTENT.has(method);
}

/** Statuses the proxy answers with a short bodiless response (and a close). */
export type PlainStatus = 400 | 408 | 431 | 501;

/** The reason phrase of every status the proxy writes itself. */
const REASONS: Record<ErrorStatus | PlainStatus, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  421: 'Misdirected Request',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};
const TITLES: Record<ErrorStatus, string> = REASONS;

/** Whole short responses, built once: status line, `connection: close`, no body. */
export const PLAIN_RESPONSES: Readonly<Record<PlainStatus, string>> = {
  400: plain(400),
  408: plain(408),
  431: plain(431),
  501: plain(501),
};

function plain(status: PlainStatus): string {
  return `HTTP/1.1 ${status} ${REASONS[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`;
}

/**
 * Writes a short bodiless response on a raw socket and ends it (endSocket): what node:http refused to parse,
 * and timeouts.
 */
export function sendPlainOnSocket(socket: Duplex, status: PlainStatus): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.write(PLAIN_RESPONSES[status], 'latin1');
  endSocket(socket);
}

const MESSAGES: Record<ErrorStatus, string> = {
  400: 'The request could not be understood: its Host header is missing or malformed, or its request line is not HTTP/1.x.',
  404: 'This web application is unavailable at the moment!',
  421: 'This connection was made for another name: {{host}} needs a connection of its own.',
  431: 'The request has more header lines than this server accepts.',
  501: 'The request uses a transfer coding this server does not implement.',
  502: 'The web application behind {{host}} could not be reached or gave an invalid answer.',
  503: 'The web application behind {{host}} has no healthy instance at the moment.',
  504: 'The web application behind {{host}} did not answer in time.',
  505: 'This server speaks HTTP/1.0 and HTTP/1.1 only.',
};

function defaultTemplate(status: ErrorStatus): string {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${status} ${TITLES[status]}</title></head>
<body>
<h1>${TITLES[status]}</h1>
<p>${MESSAGES[status]}</p>
<p>Host: <code>{{host}}</code></p>
<p>Request ID: <code>{{requestId}}</code></p>
<hr><p>nodix-proxy</p>
</body>
</html>
`;
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

interface CompiledPage {
  /** The template split at every `{{host}}`; `{{status}}` is already substituted. */
  parts: string[];
  /** The whole page when the template mentions neither the host nor the request id: the same bytes every time. */
  fixed: Buffer | null;
}

/** Error pages of one route table, compiled when the table is built (custom pages from `errorPages`). */
export class ErrorPages {
  readonly #pages = new Map<ErrorStatus, CompiledPage>();

  constructor(custom: Partial<Record<ErrorPageStatus, string>> = {}) {
    for (const status of [400, 404, 421, 431, 501, 502, 503, 504, 505] as const) {
      const template = (custom[String(status) as ErrorPageStatus] ?? defaultTemplate(status)).replaceAll(
        '{{status}}',
        String(status),
      );
      const parts = template.split('{{host}}');
      const fixed = parts.length === 1 && !template.includes('{{requestId}}');
      this.#pages.set(status, { parts, fixed: fixed ? Buffer.from(template) : null });
    }
  }

  /** `requestId` fills `{{requestId}}` (the proxy's own ids, or a trusted proxy's, are printable ASCII). */
  render(status: ErrorStatus, host: string, requestId = ''): Buffer {
    const page = this.#pages.get(status)!;
    if (page.fixed !== null) return page.fixed;
    // A Host value can be anything a client typed; cap it so a page never grows with the request.
    const text = page.parts.join(escapeHtml(host.length > 256 ? `${host.slice(0, 256)}...` : host));
    return Buffer.from(text.replaceAll('{{requestId}}', escapeHtml(requestId)));
  }
}

export const DEFAULT_ERROR_PAGES = new ErrorPages();

/** The header fields of an error page of `length` bytes (flat: name, value, ...), on every path. */
export function errorPageHeaders(length: number, requestId: string): string[] {
  return [
    'content-type',
    'text/html; charset=utf-8',
    'content-length',
    String(length),
    'cache-control',
    'no-store',
    'x-request-id',
    requestId,
  ];
}

/**
 * Writes an error page. A 400, 431, 501 or 505 also closes the connection: after a malformed request (or a body of
 * unknown framing) the stream cannot be trusted to be in sync. So does a 421: the connection's TLS name is not the
 * request's, and the client has to open one for the right name anyway. HEAD gets the headers only.
 */
export function sendErrorPage(
  req: IncomingMessage,
  res: ServerResponse,
  status: ErrorStatus,
  host: string,
  pages: ErrorPages,
  requestId: string,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = pages.render(status, host, requestId);
  const headers = errorPageHeaders(body.length, requestId);
  if (status === 400 || status === 421 || status === 431 || status === 501 || status === 505)
    headers.push('connection', 'close');
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** What `sendErrorPageOnStream` needs of an HTTP/2 stream (node:http2's ServerHttp2Stream). */
export interface ResponseStream {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  respond(headers: Record<string, string | number>, options?: { endStream?: boolean }): void;
  end(body?: Buffer): void;
}

/** The same pages on an HTTP/2 stream (inbound/h2.ts): the session goes on, so nothing is closed. */
export function sendErrorPageOnStream(
  stream: ResponseStream,
  status: ErrorStatus,
  host: string,
  pages: ErrorPages,
  headOnly: boolean,
  requestId: string,
): void {
  if (stream.destroyed || stream.headersSent) return;
  const body = pages.render(status, host, requestId);
  stream.respond(
    {
      ':status': status,
      'content-type': 'text/html; charset=utf-8',
      'content-length': body.length,
      'cache-control': 'no-store',
      'x-request-id': requestId,
    },
    { endStream: headOnly },
  );
  if (!headOnly) stream.end(body);
}

/**
 * An error page as the bytes of a whole response (the fast path's upstream failures: 502, 503, 504). HEAD gets
 * the headers only; `close` says the connection ends after it.
 */
export function errorResponse(
  status: ErrorStatus,
  host: string,
  pages: ErrorPages,
  headOnly: boolean,
  close: boolean,
  requestId: string,
): Buffer {
  const body = pages.render(status, host, requestId);
  const head = Buffer.from(errorHead(status, body.length, requestId, close), 'latin1');
  return headOnly ? head : Buffer.concat([head, body]);
}

/** The head of an error page written as bytes (errorResponse, sendErrorPageOnSocket). */
function errorHead(status: ErrorStatus, length: number, requestId: string, close: boolean): string {
  return `HTTP/1.1 ${status} ${REASONS[status]}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: ${length}\r\ncache-control: no-store\r\nx-request-id: ${requestId}\r\ndate: ${httpDate()}\r\n${close ? 'connection: close\r\n' : ''}\r\n`;
}

let dateSecond = -1;
let dateText = '';
/** The Date header value (RFC 9110 §5.6.7), computed at most once a second. */
export function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/** The 308 to https (a `redirectHttps` host on plain HTTP, inbound/route.ts): no body, the Location says it all. */
export function sendRedirect(res: ServerResponse, location: string, requestId: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(308, ['location', location, 'content-length', '0', 'x-request-id', requestId]);
  res.end();
}

/** sendRedirect on a raw socket (an Upgrade request), closing it afterwards. */
export function sendRedirectOnSocket(socket: Duplex, location: string, requestId: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.write(
    `HTTP/1.1 308 Permanent Redirect\r\nlocation: ${location}\r\ncontent-length: 0\r\nx-request-id: ${requestId}\r\ndate: ${httpDate()}\r\nconnection: close\r\n\r\n`,
    'latin1',
  );
  endSocket(socket);
}

/**
 * The same pages on a raw socket, for requests that left node:http's response machinery (Upgrade requests and
 * malformed requests reported through 'clientError'). Always closes the connection afterwards.
 */
export function sendErrorPageOnSocket(
  socket: Duplex,
  status: ErrorStatus,
  host: string,
  pages: ErrorPages,
  headOnly: boolean,
  requestId: string,
): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = pages.render(status, host, requestId);
  socket.write(errorHead(status, body.length, requestId, true), 'latin1');
  if (!headOnly) socket.write(body);
  endSocket(socket);
}

/**
 * Ends a socket gracefully: FIN after what was written, then wait for the peer's FIN (node closes the socket
 * then). Destroying right away would make the kernel answer unread input with a RST, which can discard the
 * response the peer has not read yet. Input is drained meanwhile; a peer that never closes is cut after 5 s.
 */
export function endSocket(socket: Duplex): void {
  socket.resume();
  socket.end();
  const timer = setTimeout(() => socket.destroy(), 5000);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
