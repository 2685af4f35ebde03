import type { Connection, Consistency } from './connection';
import {
  ClientClosedError,
  ConsulRequestError,
  ConsulUnavailableError,
  type ConsulWatchError,
  InvalidFilterError,
  PermissionDeniedError,
} from './errors';
import { notTls, plainToTlsPort, tlsMismatchHint, untrustedCertificate } from './tlsTrust';
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
   * The watch's requests (its `cancel()` aborts the one in flight), so a request needs no
   * AbortSignal listener and no timer of its own; `signal` still tells an abort from a failure.
   */
  cancel?: WatchRequests;
  /** Deadline in ms. Default: wait + wait/16 + 5 s for blocking reads, 30 s otherwise. */
  timeoutMs?: number;
  /** Non-2xx statuses that are answers, not failures (409 for a rolled-back txn). */
  acceptStatus?: number[];
  /**
   * Safe to send twice (reads, plain writes and deletes): retried once when a reused
   * keep-alive socket turns out to have been reset before the answer came, within what is left
   * of the first attempt's deadline.
   */
  idempotent?: boolean;
}

/** The deadline of a request that is not a blocking read, unless the call gives one. */
const DEFAULT_TIMEOUT_MS = 30_000;

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

/**
 * One watch's requests, one after another: the one in flight, and one deadline timer re-armed
 * for each request instead of a timer made and cleared per request. The deadline cancels only
 * a request still in flight; `dispose()` clears it.
 */
export class WatchRequests implements InFlight {
  /** The request of this watch on the wire now, for `cancel()`. */
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

/** The code of an error that says a reused keep-alive socket was closed under the request. */
function resetCodeOf(error: unknown): string | undefined {
  const code = (error as { code?: string }).code;
  if (code === undefined || (error as { afterAnswer?: boolean }).afterAnswer) return undefined;
  if (RESET_CODES.has(code)) return code;
  // undici: "other side closed", the server closed a kept-alive socket.
  return code === 'UND_ERR_SOCKET' ? 'ECONNRESET' : undefined;
}

/**
 * Every request core sends to Consul goes through here, over one transport (undici, see
 * transport.ts) per connection: Consul's query parameters added from the connection and the
 * call, a deadline, abort by signal or by the watch, one retry of an idempotent request whose
 * kept-alive socket was closed under it, and every failure a typed error. The token travels in
 * the X-Consul-Token header only and is never part of a URL or a message.
 */
export class ConsulHttp {
  private readonly transport: Transport;
  /** `/v1`: what every API path is under. */
  private readonly basePath: string;
  private closed = false;
  /** Whether the agent has answered over HTTP at all: then a reset is not a TLS mismatch. */
  private answered = false;

  constructor(readonly connection: Connection) {
    const base = new URL(connection.baseUrl);
    this.basePath = base.pathname.replace(/\/$/, '');
    this.transport = new Transport({
      origin: base.origin,
      ...(connection.socketPath ? { socketPath: connection.socketPath } : {}),
      ...(connection.secure ? { tls: connection.tls } : {}),
    });
  }

  /**
   * Sends one request over the transport. `what` names the operation and its key or watch for
   * messages. A 404 with an empty body (Consul's answer for a key that is not there) is an
   * answer with an undefined body; a 404 that says something (an unknown check) is an error,
   * unless `acceptStatus` takes it. A 404 from a path with no endpoint (Consul's "Unknown
   * endpoint", or a KV answer without X-Consul-Index) is an error whatever `acceptStatus` says.
   */
  request<T>(what: string, settings: CallSettings, api: ApiRequest): Promise<ConsulResponse<T>> {
    if (this.closed) return Promise.reject(new ClientClosedError(what));
    const once = this.requestOnce<T>(what, settings, api);
    if (!settings.idempotent || settings.index !== undefined) return once;
    const started = performance.now();
    return once.catch((error: unknown) => {
      if ((error as { resetCode?: string }).resetCode === undefined || settings.signal?.aborted)
        throw error;
      // The retry is part of the same call: it gets what is left of the first one's deadline,
      // so a call given t ms never takes 2t.
      const timeoutMs = settings.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const leftMs =
        timeoutMs > 0 ? Math.max(1, timeoutMs - (performance.now() - started)) : undefined;
      return this.requestOnce<T>(what, settings, api, leftMs);
    });
  }

  /** One attempt; `leftMs`, when given, bounds it instead of the whole deadline (a retry's). */
  private requestOnce<T>(
    what: string,
    settings: CallSettings,
    api: ApiRequest,
    leftMs?: number,
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
    let timeoutMs = settings.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (settings.index !== undefined) {
      const waitMs = settings.waitMs ?? 5 * 60_000;
      add(`index=${settings.index}&wait=${Math.max(1, Math.round(waitMs))}ms`);
      // Consul adds up to wait/16 of jitter; the deadline must outlive that.
      timeoutMs = settings.timeoutMs ?? waitMs + waitMs / 16 + 5_000;
    }
    const token = settings.token ?? connection.token;
    const body = api.body;
    const watch = settings.cancel;
    const owner: InFlight = watch ?? { current: undefined };
    // A watch's requests share one deadline, re-armed per request; any other request has a
    // timer of its own (undici's own timeouts tick at half-second steps: too coarse for a
    // probe's 100 ms).
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    if (timeoutMs > 0) {
      const armMs = leftMs ?? timeoutMs;
      if (watch) watch.begin(armMs);
      else
        timer = setTimeout(() => {
          timedOut = true;
          owner.current?.abort(undefined);
        }, armMs);
    }
    const onAbort =
      signal !== undefined && watch === undefined
        ? () => owner.current?.abort(signal.reason)
        : undefined;
    if (onAbort) signal!.addEventListener('abort', onAbort, { once: true });
    const path = query === '' ? this.basePath + api.path : `${this.basePath}${api.path}?${query}`;
    const done = () => {
      if (watch) watch.end();
      else clearTimeout(timer);
      if (onAbort) signal!.removeEventListener('abort', onAbort);
    };
    return this.transport
      .send(
        {
          method: api.method ?? 'GET',
          path,
          headers: token ? { 'x-consul-token': token } : undefined,
          body:
            body === undefined || typeof body === 'string' || Buffer.isBuffer(body)
              ? (body as string | Buffer | undefined)
              : JSON.stringify(body),
        },
        owner,
      )
      .then(
        (res) => {
          done();
          return this.answer<T>(what, settings, api, path, res);
        },
        (error: unknown) => {
          done();
          if ((timedOut || watch?.timedOut) && !signal?.aborted)
            throw this.translate(what, new Error(`request timed out (${timeoutMs} ms)`));
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
    this.answered = true;
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
    // A 404 is Consul's answer ("no such key", "no such session") only if it came from an
    // endpoint Consul serves: whether or not the caller accepts 404s, one rule decides.
    if (status === 404)
      this.refuseUnknownEndpoint(what, {
        statusCode: 404,
        body: text,
        headers: res.headers,
        req: { path },
      });
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
    // An empty 404 is Consul's "no such key" for a KV read; from any other endpoint it is a
    // path the agent (or something in front of it) does not serve.
    if (status === 404 && text === '' && api.path.startsWith('/kv/'))
      return { body: undefined, status, index };
    throw this.translate(what, { response: { statusCode: status, body: text } }, settings.filter);
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
        `${what}: Consul at ${where} refused the request with ${status}${reason ? `: ${reason}` : ''}.${plainToTlsPort(reason)}`,
        status,
      );
    }
    const tls =
      untrustedCertificate(what, this.connection, e.code, e.message) ??
      notTls(what, this.connection, e.code);
    if (tls) return tls;
    const code = e.code ?? (/timed out/.test(e.message ?? '') ? 'ETIMEDOUT' : 'an error');
    return new ConsulUnavailableError(
      `${what}: cannot reach Consul at ${where} (${code}). ${CHECK_ADDRESS[this.connection.addressFrom]}${this.answered ? '' : tlsMismatchHint(this.connection, e.code)}`,
    );
  }

  /** Releases every socket. */
  close(): Promise<void> {
    this.closed = true;
    return this.transport.close();
  }
}
