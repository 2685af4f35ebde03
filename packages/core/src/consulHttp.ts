import { EventEmitter } from 'node:events';
import { Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import Consul from 'consul';
import type { Connection, Consistency } from './connection';
import {
  ConsulRequestError,
  ConsulUnavailableError,
  type ConsulWatchError,
  InvalidFilterError,
  PermissionDeniedError,
} from './errors';
import { type InFlight, Transport, type WireResponse } from './transport';

/** Per-call settings; unset ones fall back to the connection's. */
export interface CallSettings {
  token?: string;
  datacenter?: string;
  consistency?: Consistency;
  /** Blocking index to send (omitted when undefined). */
  index?: bigint;
  /** Blocking wait in ms. */
  waitMs?: number;
  /** Consul's `filter` expression for the read (catalog, health and agent listings). */
  filter?: string;
  signal?: AbortSignal;
  /**
   * The watch's requests (emitting 'cancel' aborts the one in flight), so a request needs no
   * AbortSignal listener and no timers of its own; `signal` still tells an abort from a failure.
   */
  cancel?: WatchRequests;
  /** Socket timeout in ms. Default: wait + wait/16 + 5 s for blocking reads, 30 s otherwise. */
  timeoutMs?: number;
  /** Non-2xx statuses that are answers, not failures (409 for a rolled-back txn). */
  acceptStatus?: number[];
  /**
   * Safe to send twice (reads, plain writes and deletes): retried once when a reused
   * keep-alive socket turns out to have been reset before the answer came.
   */
  idempotent?: boolean;
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** How Consul's answer to a malformed `filter` begins. */
const BAD_FILTER = 'Failed to create boolean expression evaluator: ';

/** What to check when Consul cannot be reached, by where its address came from. */
const CHECK_ADDRESS: Record<Connection['addressFrom'], string> = {
  option: 'Is the agent running, and is the address option right?',
  CONSUL_HTTP_ADDR: 'Is the agent running, and is CONSUL_HTTP_ADDR right?',
  default:
    'Is an agent running there? No address was given: set CONSUL_HTTP_ADDR or the address option.',
};

/** What an answer carries that tells a missing key from a path with no endpoint. */
interface Answer {
  statusCode?: number;
  body?: unknown;
  headers?: Record<string, string | string[] | undefined>;
  req?: { path?: string };
}

/** A request path as the user knows it (`/v1/kv/app/db`, not `app%2Fdb`). */
function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/**
 * The path (without its query) of a 404 that is not Consul's "no such key": a path with no
 * endpoint (Consul's and the dev-server's "Unknown endpoint" text), or a KV read answered without
 * X-Consul-Index, which Consul sends with every KV answer, missing keys included (so something
 * other than Consul answered). Undefined for any other answer.
 */
function unknownEndpoint(answer: Answer): string | undefined {
  if (answer.statusCode !== 404) return undefined;
  const path = decodePath((answer.req?.path ?? '').split('?')[0] ?? '');
  const body = answer.body;
  const text = Buffer.isBuffer(body)
    ? body.toString('utf8', 0, 100)
    : typeof body === 'string'
      ? body
      : '';
  if (text.startsWith('Unknown endpoint')) return path || text.slice('Unknown endpoint '.length);
  if (/\/v1\/kv\//.test(path) && answer.headers?.['x-consul-index'] === undefined) return path;
  return undefined;
}

/** What the `consul` client takes as `ctx`: it aborts the request in flight on 'cancel'. */
export type CancelContext = EventEmitter & { includeResponse: boolean };

export const cancelContext = (): CancelContext =>
  Object.assign(new EventEmitter(), { includeResponse: true });

/**
 * One watch's requests, one after another: their cancel emitter, and one deadline timer
 * re-armed for each request instead of the two timers the client would make and clear per
 * request (its own and the socket's): 8–17 µs of CPU less per answer in one fleet benchmark
 * run. The deadline cancels only a request still in flight; `dispose()` clears it.
 */
export class WatchRequests extends EventEmitter implements InFlight {
  readonly includeResponse = true;
  /** The request of this watch on the wire now (over the transport), for `cancel()`. */
  current: InFlight['current'];
  /** Set when the deadline, not the caller, cancelled the request in flight. */
  timedOut = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The deadline of the request in flight (or the last one), ms. */
  timeoutMs = 0;
  private inFlight = false;

  /** A request goes now and may take `ms` at most. */
  begin(ms: number): void {
    this.timedOut = false;
    this.inFlight = true;
    if (this.timer !== undefined && this.timeoutMs === ms) {
      this.timer.refresh();
      return;
    }
    clearTimeout(this.timer);
    this.timeoutMs = ms;
    this.timer = setTimeout(() => {
      if (!this.inFlight) return;
      this.timedOut = true;
      this.cancel();
    }, ms);
    // Between requests an armed deadline has nothing to cancel; it must not keep a process up.
    this.timer.unref();
  }

  /** Aborts the request in flight, if any. */
  cancel(reason?: unknown): void {
    this.emit('cancel');
    this.current?.abort(reason);
  }

  /** The request ended (answered or failed). */
  end(): void {
    this.inFlight = false;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.inFlight = false;
  }
}

/** One request to Consul's HTTP API, in its own terms; the connection's settings are added by `request()`. */
export interface ApiRequest {
  /** Default GET. */
  method?: 'GET' | 'PUT' | 'DELETE';
  /** The path after `/v1`, encoded: `/kv/${encodeKey(key)}`. */
  path: string;
  /** The request's own query parameters, encoded and joined with `&`: `recurse=true`. */
  query?: string;
  /** Sent as it is when text or bytes; anything else as JSON. */
  body?: unknown;
  /** How to read a 2xx answer: JSON (default), its bytes as they came, or text. */
  read?: 'json' | 'bytes' | 'text';
}

export interface ConsulResponse<T> {
  body: T | undefined;
  status: number;
  /** X-Consul-Index, as a bigint: the event list's index uses all 64 bits. */
  index: bigint | undefined;
}

/** The options object the `consul` client's methods take (common part). */
export interface ClientCallOptions {
  token?: string;
  dc?: string;
  stale?: boolean;
  consistent?: boolean;
  index?: string;
  wait?: string;
  filter?: string;
  timeout: number;
  ctx: EventEmitter & { includeResponse: boolean };
}

// biome-ignore lint/suspicious/noExplicitAny: the client's own typings omit most of what it accepts
export type AnyClient = any;

/** The code of an error that says a reused keep-alive socket was closed under the request. */
function resetCodeOf(error: unknown): string | undefined {
  const code = (error as { code?: string }).code;
  if (code === undefined) return undefined;
  if (RESET_CODES.has(code)) return code;
  // undici: "other side closed", the server closed a kept-alive socket.
  return code === 'UND_ERR_SOCKET' ? 'ECONNRESET' : undefined;
}

const isAbort = (error: unknown) => (error as { isAbort?: boolean })?.isAbort === true;

/**
 * All HTTP to Consul goes through here, over the npm `consul` client: one keep-alive agent
 * per connection (destroyed by `close()`), abort through the client's `ctx`, and failures
 * turned into typed errors. The token travels in the X-Consul-Token header only (the client
 * puts `token` there) and is never part of a message.
 */
export class ConsulHttp {
  readonly client: AnyClient;
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly transport: Transport;
  /** `/v1`: what every API path is under. */
  private readonly basePath: string;

  constructor(readonly connection: Connection) {
    const base = new URL(connection.baseUrl);
    this.basePath = base.pathname.replace(/\/$/, '');
    this.transport = new Transport({
      origin: base.origin,
      ...(connection.secure ? { tls: connection.tls } : {}),
    });
    this.agent = connection.secure
      ? new HttpsAgent({ keepAlive: true, ...connection.tls })
      : new HttpAgent({ keepAlive: true });
    this.client = new Consul({
      baseUrl: connection.baseUrl,
      agent: this.agent,
    } as ConstructorParameters<typeof Consul>[0]);
  }

  /**
   * Runs one client call. `what` names the operation and its key or watch for messages.
   * A 404 is not an error here: the body is undefined and the caller decides.
   */
  call<T>(
    what: string,
    settings: CallSettings,
    invoke: (client: AnyClient, options: ClientCallOptions) => Promise<unknown>,
  ): Promise<ConsulResponse<T>> {
    const once = this.callOnce<T>(what, settings, invoke);
    // A blocking read is not retried here: the watch loop handles the error by its rules
    // (the availability probe, then a read without an index, diffed against what it delivered).
    if (!settings.idempotent || settings.index !== undefined) return once;
    return once.catch((error: unknown) => {
      const code = (error as { resetCode?: string }).resetCode;
      if (code === undefined || settings.signal?.aborted) throw error;
      return this.callOnce<T>(what, settings, invoke);
    });
  }

  /**
   * Sends one request over the transport. `what` names the operation and its key or watch for
   * messages. A 404 with an empty body (Consul's answer for a key that is not there) is an
   * answer with an undefined body; a 404 that says something (an unknown endpoint, an unknown
   * check) is an error, unless `acceptStatus` takes it.
   */
  request<T>(what: string, settings: CallSettings, api: ApiRequest): Promise<ConsulResponse<T>> {
    const once = this.requestOnce<T>(what, settings, api);
    if (!settings.idempotent || settings.index !== undefined) return once;
    return once.catch((error: unknown) => {
      if ((error as { resetCode?: string }).resetCode === undefined || settings.signal?.aborted)
        throw error;
      return this.requestOnce<T>(what, settings, api);
    });
  }

  private requestOnce<T>(
    what: string,
    settings: CallSettings,
    api: ApiRequest,
  ): Promise<ConsulResponse<T>> {
    const { signal } = settings;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const connection = this.connection;
    let query = api.query ?? '';
    const add = (part: string) => {
      query = query === '' ? part : `${query}&${part}`;
    };
    const dc = settings.datacenter ?? connection.datacenter;
    if (dc) add(`dc=${encodeURIComponent(dc)}`);
    const consistency = settings.consistency ?? connection.consistency;
    if (consistency === 'consistent') add('consistent=');
    else if (consistency === 'stale') add('stale=');
    if (settings.filter !== undefined) add(`filter=${encodeURIComponent(settings.filter)}`);
    let timeoutMs = settings.timeoutMs ?? 30_000;
    if (settings.index !== undefined) {
      const waitMs = settings.waitMs ?? 5 * 60_000;
      add(`index=${settings.index}&wait=${Math.max(1, Math.round(waitMs))}ms`);
      // Consul adds up to wait/16 of jitter; the deadline must outlive that.
      timeoutMs = settings.timeoutMs ?? waitMs + waitMs / 16 + 5_000;
    }
    const token = settings.token ?? connection.token;
    const body = api.body;
    const owner: InFlight = settings.cancel ?? { current: undefined };
    const watch = settings.cancel && timeoutMs > 0 ? settings.cancel : undefined;
    // A watch's one deadline, re-armed per request, instead of a timer per request.
    if (watch) watch.begin(timeoutMs);
    const onAbort =
      signal !== undefined && settings.cancel === undefined
        ? () => owner.current?.abort(signal.reason)
        : undefined;
    if (onAbort) signal!.addEventListener('abort', onAbort, { once: true });
    const path = query === '' ? this.basePath + api.path : `${this.basePath}${api.path}?${query}`;
    const sent = this.transport.send(
      {
        method: api.method ?? 'GET',
        path,
        headers: token ? { 'x-consul-token': token } : undefined,
        body:
          body === undefined || typeof body === 'string' || Buffer.isBuffer(body)
            ? (body as string | Buffer | undefined)
            : JSON.stringify(body),
        timeoutMs: watch ? 0 : timeoutMs,
      },
      owner,
    );
    return sent.then(
      (res) => {
        watch?.end();
        if (onAbort) signal!.removeEventListener('abort', onAbort);
        return this.answer<T>(what, settings, api, path, res);
      },
      (error: unknown) => {
        watch?.end();
        if (onAbort) signal!.removeEventListener('abort', onAbort);
        const timedOut =
          (watch?.timedOut && !signal?.aborted) ||
          (error as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT' ||
          (error as { code?: string }).code === 'UND_ERR_BODY_TIMEOUT';
        if (timedOut) throw this.translate(what, new Error(`request timed out (${timeoutMs} ms)`));
        if (signal?.aborted) throw signal.reason;
        const translated = this.translate(what, error);
        const code = resetCodeOf(error);
        if (code !== undefined) Object.defineProperty(translated, 'resetCode', { value: code });
        throw translated;
      },
    );
  }

  /** A response as the caller wants it, or the typed error it stands for. */
  private answer<T>(
    what: string,
    settings: CallSettings,
    api: ApiRequest,
    path: string,
    res: WireResponse,
  ): ConsulResponse<T> {
    const { status } = res;
    const header = res.headers['x-consul-index'];
    const index =
      typeof header === 'string' && header !== '' && /^\d+$/.test(header)
        ? BigInt(header)
        : undefined;
    if (status >= 200 && status < 300) {
      const read = api.read ?? 'json';
      let body: unknown;
      if (read === 'bytes') body = res.body;
      else if (read === 'text') body = res.body.toString('utf8');
      else if (res.body.length > 0) {
        try {
          body = JSON.parse(res.body.toString('utf8'));
        } catch {
          throw new ConsulRequestError(
            `${what}: Consul at ${this.connection.display} answered ${status} with a body that is not JSON; is the address that of a Consul agent?`,
            status,
          );
        }
      }
      return { body: body as T, status, index };
    }
    const text = res.body.length > 0 ? res.body.toString('utf8').trim() : '';
    if (settings.acceptStatus?.includes(status)) {
      let body: unknown;
      if (status !== 404 && text !== '') {
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
      }
      return { body: body as T, status, index };
    }
    if (status === 404) {
      this.refuseUnknownEndpoint(what, {
        statusCode: 404,
        body: text,
        headers: res.headers,
        req: { path },
      });
      if (text === '') return { body: undefined, status, index };
    }
    throw this.translate(what, { response: { statusCode: status, body: text } }, settings.filter);
  }

  /** One request; a promise chain rather than an async function: a watch makes one per answer. */
  private callOnce<T>(
    what: string,
    settings: CallSettings,
    invoke: (client: AnyClient, options: ClientCallOptions) => Promise<unknown>,
  ): Promise<ConsulResponse<T>> {
    const { signal } = settings;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const ctx = settings.cancel ?? cancelContext();
    const options: ClientCallOptions = { ctx, timeout: settings.timeoutMs ?? 30_000 };
    const token = settings.token ?? this.connection.token;
    if (token) options.token = token;
    const dc = settings.datacenter ?? this.connection.datacenter;
    if (dc) options.dc = dc;
    const consistency = settings.consistency ?? this.connection.consistency;
    if (consistency === 'stale') options.stale = true;
    if (consistency === 'consistent') options.consistent = true;
    // The client sends it as the `filter` query parameter.
    if (settings.filter !== undefined) options.filter = settings.filter;
    if (settings.index !== undefined) {
      const waitMs = settings.waitMs ?? 5 * 60_000;
      options.index = settings.index.toString();
      options.wait = `${Math.max(1, Math.round(waitMs))}ms`;
      // Consul adds up to wait/16 of jitter; the socket must outlive that.
      options.timeout = settings.timeoutMs ?? waitMs + waitMs / 16 + 5_000;
    }
    const watch = settings.cancel && options.timeout > 0 ? settings.cancel : undefined;
    if (watch) {
      // The watch's deadline instead of the client's per-request timers.
      watch.begin(options.timeout);
      options.timeout = 0;
    }
    const onAbort = () => ctx.emit('cancel');
    const listen = signal !== undefined && settings.cancel === undefined;
    if (listen) signal.addEventListener('abort', onAbort, { once: true });
    let pending: Promise<unknown>;
    try {
      pending = invoke(this.client, options);
    } catch (error) {
      pending = Promise.reject(error);
    }
    return pending.then(
      (result) => {
        watch?.end();
        if (listen) signal.removeEventListener('abort', onAbort);
        const [res, body] = result as [IncomingMessage & { statusCode: number }, T?];
        if (res.statusCode === 404) this.refuseUnknownEndpoint(what, res as Answer);
        const header = res.headers['x-consul-index'];
        return {
          body,
          status: res.statusCode,
          index: typeof header === 'string' && /^\d+$/.test(header) ? BigInt(header) : undefined,
        };
      },
      (error: unknown) => {
        watch?.end();
        if (listen) signal.removeEventListener('abort', onAbort);
        if (watch?.timedOut && !signal?.aborted)
          throw this.translate(what, new Error(`request timed out (${watch.timeoutMs} ms)`));
        if (signal?.aborted || isAbort(error)) throw signal?.reason ?? error;
        const response = (error as { response?: { statusCode: number; body: T } }).response;
        if (response && settings.acceptStatus?.includes(response.statusCode)) {
          this.refuseUnknownEndpoint(what, response as Answer);
          const accepted = response.statusCode === 404 ? undefined : response.body;
          return { body: accepted, status: response.statusCode, index: undefined };
        }
        const translated = this.translate(what, error, settings.filter);
        const code = (error as { code?: string }).code;
        if (code && RESET_CODES.has(code))
          Object.defineProperty(translated, 'resetCode', { value: code });
        throw translated;
      },
    );
  }

  /** Throws when a 404 comes from a path with no endpoint: never read as a missing key. */
  private refuseUnknownEndpoint(what: string, answer: Answer): void {
    const path = unknownEndpoint(answer);
    if (path === undefined) return;
    throw new ConsulRequestError(
      `${what}: ${this.connection.display} has no endpoint ${path} (it answered 404 without Consul's index, or "Unknown endpoint"). Its address must be a Consul agent's scheme, host and port only, such as http://127.0.0.1:8500; check that nothing in front of it rewrites paths.`,
      404,
    );
  }

  /** Turns a client failure into a typed error that names the operation, never the token. */
  translate(what: string, error: unknown, filter?: string): ConsulWatchError {
    const e = error as {
      response?: { statusCode?: number; body?: unknown };
      code?: string;
      message?: string;
    };
    const status = e.response?.statusCode;
    const reason =
      typeof e.response?.body === 'string' && e.response.body.trim() !== ''
        ? e.response.body.trim()
        : undefined;
    const where = this.connection.display;
    // Consul answers a filter it cannot parse or check with a 500 and this text (after
    // "rpc error making call: " when a client agent forwarded the read).
    const badFilter = reason?.indexOf(BAD_FILTER) ?? -1;
    if (filter !== undefined && status !== undefined && badFilter >= 0) {
      return new InvalidFilterError(
        `${what}: Consul cannot use the filter ${JSON.stringify(filter)}: ${reason!.slice(badFilter + BAD_FILTER.length)}. Fix the expression (see https://developer.hashicorp.com/consul/api-docs/features/filtering); the watch retries slowly meanwhile.`,
        filter,
        status,
      );
    }
    if (status === 403) {
      return new PermissionDeniedError(
        `${what}: Consul at ${where} denied the request (403 ${reason ?? 'Permission denied'}). Check that the ACL token is set and its policy grants this access.`,
      );
    }
    if (status === 429 || (status !== undefined && status >= 500)) {
      return new ConsulUnavailableError(
        `${what}: Consul at ${where} answered ${status}${reason ? ` (${reason})` : ''}; will retry.`,
        status,
      );
    }
    if (status !== undefined) {
      return new ConsulRequestError(
        `${what}: Consul at ${where} refused the request with ${status}${reason ? `: ${reason}` : ''}.`,
        status,
      );
    }
    const code = e.code ?? (/timed out/.test(e.message ?? '') ? 'ETIMEDOUT' : 'an error');
    return new ConsulUnavailableError(
      `${what}: cannot reach Consul at ${where} (${code}). ${CHECK_ADDRESS[this.connection.addressFrom]}`,
    );
  }

  /** Releases every socket. */
  close(): Promise<void> {
    this.agent.destroy();
    return this.transport.close();
  }
}
