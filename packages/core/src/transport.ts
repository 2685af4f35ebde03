import type { IncomingHttpHeaders } from 'node:http';
import { type Dispatcher, Pool } from 'undici';

/** Where and how to connect: one origin, over TCP, TLS or a unix socket. */
export interface TransportTarget {
  /** `http://host:port` or `https://host:port`; `http://localhost` for a unix socket. */
  origin: string;
  socketPath?: string;
  tls?: {
    ca?: string | Buffer;
    cert?: string | Buffer;
    key?: string | Buffer;
    rejectUnauthorized: boolean;
  };
}

/** One request as it goes on the wire. */
export interface WireRequest {
  method: 'GET' | 'PUT' | 'DELETE';
  /** The path and query, encoded: `/v1/kv/a%2Fb?recurse=true`. */
  path: string;
  /** Header names in lower case; the ACL token travels as `x-consul-token` here and nowhere else. */
  headers: Record<string, string> | undefined;
  body: string | Buffer | undefined;
}

export interface WireResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Something that can abort the request in flight: a watch's requests, or one call's signal. */
export interface InFlight {
  /** Set by the transport while a request of its owner is on the wire. */
  current: Exchange | undefined;
}

const EMPTY = Buffer.alloc(0);

/**
 * One request's life on undici's dispatcher: the handler it calls back and the promise the
 * caller waits on. The body is kept as the chunks it came in and joined once at the end, so
 * a KV watch gets the answer's bytes without a stream or a string in between.
 */
export class Exchange implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private status = 0;
  private headers: IncomingHttpHeaders = {};
  private chunks: Buffer[] = [];
  private size = 0;
  /** Whether any of the answer came: only a request reset before that may be sent again. */
  private answered = false;
  /** Why the caller aborted it, when it did. */
  private abortReason: unknown;
  private settled = false;

  constructor(
    private readonly resolve: (response: WireResponse) => void,
    private readonly reject: (error: Error) => void,
    private readonly owner: InFlight | undefined,
  ) {}

  /**
   * Aborts the request if it is still in flight; the promise rejects with `reason` at once,
   * also while the request still waits for its socket to connect (undici hands the request
   * its controller only when it writes it: it is aborted then).
   */
  abort(reason: unknown): void {
    if (this.abortReason !== undefined || this.settled) return;
    this.abortReason = reason ?? new Error('aborted');
    if (this.controller) this.controller.abort(this.abortReason as Error);
    else this.fail(this.abortReason as Error);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason !== undefined) controller.abort(this.abortReason as Error);
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    this.answered = true;
    this.status = statusCode;
    this.headers = headers;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  onResponseEnd(): void {
    if (this.settled) return;
    this.settled = true;
    this.release();
    const { chunks } = this;
    const body =
      chunks.length === 1
        ? chunks[0]!
        : chunks.length === 0
          ? EMPTY
          : Buffer.concat(chunks, this.size);
    this.resolve({ status: this.status, headers: this.headers, body });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    // A socket closed after part of the answer came is no stale keep-alive socket: the
    // request reached the server, so it is not to be sent again.
    if (this.answered) Object.defineProperty(error, 'afterAnswer', { value: true });
    this.fail(error);
  }

  private fail(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.release();
    this.reject(error);
  }

  private release(): void {
    if (this.owner?.current === this) this.owner.current = undefined;
  }
}

/**
 * Every request core sends, over one undici pool per connection: keep-alive sockets, as many
 * as there are requests in flight (a parked blocking query holds one, so the pool is
 * unbounded), never pipelined (an answer never waits behind a parked query), and no timeout
 * of undici's own: the caller keeps each request's deadline.
 */
export class Transport {
  private readonly pool: Pool;

  constructor(target: TransportTarget) {
    const connect: Record<string, unknown> = {};
    if (target.socketPath) connect.socketPath = target.socketPath;
    if (target.tls) Object.assign(connect, target.tls);
    this.pool = new Pool(target.origin, {
      connections: null,
      pipelining: 1,
      headersTimeout: 0,
      bodyTimeout: 0,
      connect,
    });
  }

  /**
   * Sends one request. `owner` (a watch's requests) learns the request in flight, so it can
   * abort it without an AbortSignal listener per request.
   */
  send(request: WireRequest, owner?: InFlight): Promise<WireResponse> {
    return new Promise((resolve, reject) => {
      const exchange = new Exchange(resolve, reject, owner);
      if (owner) owner.current = exchange;
      this.pool.dispatch(
        {
          method: request.method,
          path: request.path,
          headers: request.headers ?? null,
          body: request.body ?? null,
          // Never held behind another request on its connection, whatever the method.
          blocking: true,
        },
        exchange,
      );
    });
  }

  /** Closes every socket at once, aborting what is in flight. */
  close(): Promise<void> {
    return this.pool.destroy();
  }
}
