import type { BlockingAnswer } from '../blockingQuery';
import type { ApiRequest, CallSettings, ConsulHttp, WatchRequests } from '../consulHttp';

export interface FetchContext {
  http: ConsulHttp;
  settings: CallSettings;
  index: bigint | undefined;
  waitMs: number;
  signal: AbortSignal;
  /** The watch's requests: their cancel emitter (fires 'cancel' when `signal` aborts) and deadline. */
  cancel?: WatchRequests;
}

/**
 * One watch type in three parts: how to request it, how to normalise the answer into a
 * state, and how to diff two states into a change. Adding a type adds one such module.
 */
export interface WatchType<P, Raw, S, C> {
  /** The names of its parameters, so a misspelt one is refused instead of ignored. */
  params: readonly (keyof P & string)[];
  /** Checks parameters before anything is sent; throws InvalidInputError. */
  validate(params: P): void;
  /** Names the watch in messages: `keyprefix "app/"`. */
  describe(params: P): string;
  fetch(params: P, ctx: FetchContext): Promise<BlockingAnswer<Raw>>;
  /** `previous` is the state before this answer, for types that carry history (event IDs). */
  normalise(raw: Raw, params: P, ctx: { prefix: string; previous: S | undefined }): S;
  /** The change from `prev` to `next`; `prev` undefined is the first state. Undefined: no change. */
  diff(prev: S | undefined, next: S, params: P): C | undefined;
  /** The event list's index is a hash, not a Raft index. */
  indexKind?: 'hash';
  /** Takes Consul's `filter` parameter (the catalog and health reads do, KV and events do not). */
  filterable?: boolean;
}

export function defineWatchType<P, Raw, S, C>(
  type: WatchType<P, Raw, S, C>,
): WatchType<P, Raw, S, C> {
  return type;
}

/** Runs one read through the HTTP layer with the blocking index and wait (and `filter`). */
export function blockingFetch<Raw>(
  what: string,
  ctx: FetchContext,
  request: ApiRequest,
  filter?: string,
): Promise<BlockingAnswer<Raw>> {
  // Not retried inside the HTTP layer, even without an index: a failed watch request goes to
  // the loop's rules (the availability probe), and a retry would open a second connection to
  // an agent that is away.
  // Object.assign rather than a spread with more properties: that is a slow path in Node 20.
  const settings: CallSettings = Object.assign({}, ctx.settings, {
    index: ctx.index,
    waitMs: ctx.waitMs,
    signal: ctx.signal,
  });
  if (ctx.cancel) settings.cancel = ctx.cancel;
  if (filter !== undefined) settings.filter = filter;
  // The response is the answer as it is: its body and index are what the loop reads.
  return ctx.http.request<Raw>(what, settings, request) as Promise<BlockingAnswer<Raw>>;
}
