/**
 * What the proxy keeps per client connection while node:http reads it (from the start with `fastPath: false`,
 * or after the fast path handed it over): node:http parses pipelined requests as fast as they come and emits
 * each at once, and answers a parse error at once; a proxy must not.
 *
 * - One request at a time, in order, as nginx does (#10 item 2): a request that arrives while the one before it
 *   is still being answered waits here until that response is done, then runs. Upstreams never see two requests
 *   of one client connection at the same time, and one client's pipeline cannot take a pool's every socket.
 * - A parse error behind valid requests (#10 item 9) is answered after their responses, not instead of them:
 *   the upstream executed them.
 * - One deadline per request head (#10 item 12): node:http times a head from its first byte, so a connection
 *   handed over by the fast path (whose header timeout runs from the accept) would get a second full timeout.
 *   `headDeadline` carries the first head's deadline over; the timer stops when node:http emits its request.
 *
 * hot path (node:http's side): per request one symbol lookup, a flag and one 'close' listener; the queue and
 * its entries exist only for pipelined requests.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { PlainStatus } from '../http/error-pages.js';

/** What the connection runs requests with and answers refusals through (create-proxy.ts). */
export interface NodeConnectionHost {
  handleRequest(req: IncomingMessage, res: ServerResponse): void;
  handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void;
  /** Answers a refusal on the raw socket (a short response from http/error-pages.ts, then close). */
  refuse(socket: Socket, status: PlainStatus): void;
}

interface Waiting {
  req: IncomingMessage;
  res: ServerResponse | null;
  /** For an upgrade: the bytes node:http read after its head. */
  head: Buffer | null;
}

const kConnection = Symbol('nodix.nodeConnection');

export class NodeConnection {
  readonly socket: Socket;
  readonly host: NodeConnectionHost;
  /** A request is being answered (or an upgrade took the socket). */
  busy = false;
  /** The request being answered. */
  current: IncomingMessage | null = null;
  closed = false;
  waiting: Waiting[] | null = null;
  /** A parse error to answer once the requests before it are answered; 0: none. */
  refusalStatus: PlainStatus | 0 = 0;
  headTimer: NodeJS.Timeout | null = null;

  /** `headDeadline`: when the first request head must be complete (Date.now() ms); 0: node:http's own timing. */
  constructor(socket: Socket, host: NodeConnectionHost, headDeadline: number) {
    this.socket = socket;
    this.host = host;
    (socket as unknown as { [kConnection]: NodeConnection })[kConnection] = this;
    socket.once('close', this.onClose);
    if (headDeadline > 0) {
      this.headTimer = setTimeout(this.onHeadTimeout, Math.max(0, headDeadline - Date.now()));
      this.headTimer.unref();
    }
  }

  static of(socket: unknown): NodeConnection | undefined {
    return (socket as { [kConnection]?: NodeConnection })[kConnection];
  }

  /** node:http's 'request' event. */
  request(req: IncomingMessage, res: ServerResponse): void {
    if (this.headTimer !== null) this.headDone();
    if (this.ending) return;
    if (this.busy) {
      this.wait({ req, res, head: null });
      return;
    }
    this.start(req, res);
  }

  /** node:http's 'upgrade' event: runs after the responses before it, and keeps the connection busy for good. */
  upgrade(req: IncomingMessage, head: Buffer): void {
    if (this.headTimer !== null) this.headDone();
    if (this.ending) return;
    if (this.busy) {
      this.wait({ req, res: null, head });
      return;
    }
    this.busy = true;
    this.current = req;
    this.host.handleUpgrade(req, this.socket, head);
  }

  /**
   * The connection is closed or closing: a response ended it (`Connection: close`, a refusal whose body framing
   * is unknown). Requests node:http parsed behind that response, before or after it finished, are not run:
   * their bytes may not even be requests (the TE.CL cases: a 501's unread body).
   */
  get ending(): boolean {
    return this.closed || this.socket.writableEnded;
  }

  wait(entry: Waiting): void {
    if (this.waiting === null) this.waiting = [entry];
    else this.waiting.push(entry);
  }

  /**
   * A parse error from node:http ('clientError'): true when requests before it are still being answered, and
   * the refusal waits for them. An error inside the body of the request being answered is not deferred: that
   * request itself is broken.
   */
  deferRefusal(status: PlainStatus): boolean {
    if (!this.busy || this.closed) return false;
    const current = this.current;
    if (current !== null && !current.complete && (this.waiting === null || this.waiting.length === 0))
      return false;
    if (this.refusalStatus === 0) this.refusalStatus = status;
    return true;
  }

  start(req: IncomingMessage, res: ServerResponse): void {
    this.busy = true;
    this.current = req;
    res.on('close', this.onDone);
    this.host.handleRequest(req, res);
  }

  headDone(): void {
    clearTimeout(this.headTimer!);
    this.headTimer = null;
  }

  /** The response being answered is done (finished, or the socket went away): the next one, or the refusal. */
  onDone = (): void => {
    this.busy = false;
    this.current = null;
    if (this.ending) {
      this.waiting = null;
      return;
    }
    const waiting = this.waiting;
    if (waiting !== null && waiting.length > 0) {
      const next = waiting.shift()!;
      if (this.refusalStatus !== 0 && next.res !== null && !next.req.complete) {
        // The parse error was in this request's body: it is not forwarded, the refusal answers it.
        this.waiting = null;
        this.host.refuse(this.socket, this.refusalStatus);
        return;
      }
      if (next.res !== null) this.start(next.req, next.res);
      else this.upgrade(next.req, next.head!);
      return;
    }
    if (this.refusalStatus !== 0) this.host.refuse(this.socket, this.refusalStatus);
  };

  /** The first head was not complete by its deadline: 408, as node:http answers its own header timeout. */
  onHeadTimeout = (): void => {
    this.headTimer = null;
    if (!this.closed && !this.busy) this.host.refuse(this.socket, 408);
  };

  onClose = (): void => {
    this.closed = true;
    this.waiting = null;
    if (this.headTimer !== null) this.headDone();
  };
}
