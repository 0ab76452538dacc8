/**
 * Request bodies as the upstream client pumps them (upstream/client.ts). Two sources feed it: node:http's
 * IncomingMessage (a node:stream, `StreamBody`) for requests node:http parsed, and the fast path's own reader of
 * the client socket (fast-path.ts) for plain Content-Length bodies. The client sees one small interface, so the
 * fast path does not have to dress socket bytes up as a stream to be forwarded.
 */
import type { Readable } from 'node:stream';

/** What a body is delivered to: the upstream connection's writer. */
export interface BodySink {
  /** One chunk of the body, in order. The sink calls `pause()` on the body when its socket is full. */
  data(chunk: Buffer): void;
  /** The body is complete. */
  end(): void;
  /** The body ended before it was complete (the client went away). */
  gone(): void;
}

export interface RequestBody {
  /** Starts delivering to `sink`. A body may be attached again after `detach()` (a retried request). */
  attach(sink: BodySink): void;
  /** Stops delivering; what comes after waits (paused) until the body is attached again or dropped. */
  detach(): void;
  pause(): void;
  resume(): void;
  /** Some of the body was consumed and cannot be sent again: a retry is impossible. */
  readonly readableDidRead: boolean;
}

/** A body read from a node:stream Readable (node:http's IncomingMessage). */
export class StreamBody implements RequestBody {
  readonly stream: Readable;
  sink: BodySink | null = null;
  /** Body bytes read from the client so far (metrics, access log). */
  bytes = 0;

  /**
   * `aborted`: for a stream whose 'end' does not prove the body complete. node:http2 ends the readable side of
   * a stream the client reset (RST_STREAM) as well, and says it was aborted only in a callback that may come
   * after 'end'. With `aborted` given, 'end' is believed one macrotask later unless the stream was aborted by
   * then: a reset body is `gone()`, never ended, which would let the upstream take a truncated upload for a
   * complete one.
   */
  constructor(stream: Readable, aborted: (() => boolean) | null = null) {
    this.stream = stream;
    this.aborted = aborted;
  }

  readonly aborted: (() => boolean) | null;

  get readableDidRead(): boolean {
    return this.stream.readableDidRead;
  }

  attach(sink: BodySink): void {
    this.sink = sink;
    const stream = this.stream;
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.on('error', this.#onGone);
    stream.on('close', this.#onGone);
    // A retried request whose (empty) body ended during the first attempt: 'end' will not come again.
    if (stream.readableEnded) this.#onEnd();
    else stream.resume();
  }

  detach(): void {
    this.sink = null;
    const stream = this.stream;
    stream.off('data', this.#onData);
    stream.off('end', this.#onEnd);
    stream.off('error', this.#onGone);
    stream.off('close', this.#onGone);
    if (!stream.readableEnded) stream.pause();
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  #onData = (chunk: Buffer): void => {
    this.bytes += chunk.length;
    this.sink?.data(chunk);
  };

  #onEnd = (): void => {
    if (this.aborted === null) this.sink?.end();
    else if (this.aborted()) this.sink?.gone();
    else setImmediate(this.#confirmEnd);
  };

  #confirmEnd = (): void => {
    if (this.aborted!()) this.sink?.gone();
    else this.sink?.end();
  };

  #onGone = (): void => {
    this.sink?.gone();
  };
}
