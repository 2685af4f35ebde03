import type { AnyClient, ClientCallOptions } from '../consulHttp';
import { InvalidInputError } from '../errors';
import { validateKey } from '../keys';
import type { KvKeyChange, KvState } from '../kvDiff';
import { kvChanges, readKvState } from '../kvState';
import { blockingFetch, defineWatchType } from './watchType';

/**
 * GET /v1/kv/… over the `consul` client's own transport (its `_get`, as its `kv.get` uses),
 * with the body left as bytes: a watch parses only the entries whose bytes changed and decodes
 * only their values (kvState.ts). On a 10,000-key prefix the whole parse and the per-entry
 * base64 decode `kv.get` does were most of the client-side cost of a change to one key.
 */
function getBody(
  client: AnyClient,
  o: ClientCallOptions,
  key: string,
  recurse: boolean,
): Promise<unknown> {
  // The path and query written out as the client would write them (the same bytes), so its
  // pipeline has no template to fill and no query to encode on every request.
  const query: string[] = [];
  if (recurse) query.push('recurse=true');
  if (o.dc) query.push(`dc=${encodeURIComponent(o.dc)}`);
  if (o.consistent) query.push('consistent=1');
  else if (o.stale) query.push('stale=1');
  if (o.index !== undefined) query.push(`index=${o.index}`);
  if (o.wait !== undefined) query.push(`wait=${o.wait}`);
  const path = `/kv/${encodeURIComponent(key)}${query.length > 0 ? `?${query.join('&')}` : ''}`;
  const headers: Record<string, string> = {};
  if (o.token) headers['x-consul-token'] = o.token;
  // The body comes as bytes (`buffer`): a watch parses only the entries that changed.
  return client._get(
    { name: 'kv.get', path, headers, ctx: o.ctx, timeout: o.timeout, buffer: true },
    answerOf,
  );
}

type Step = {
  res?: { statusCode: number; body?: unknown };
  err?: Error & { response?: unknown };
};

/** The client's last step: a 404 is an empty answer; an error's body is Consul's message, as text. */
function answerOf(
  request: Step,
  next: (error: unknown, _?: undefined, result?: unknown) => void,
): void {
  if (request.res?.statusCode === 404) next(false, undefined, [request.res]);
  else if (request.err) {
    if (Buffer.isBuffer(request.res?.body)) request.res.body = request.res.body.toString();
    request.err.response = request.res;
    next(request.err);
  } else next(false, undefined, [request.res, request.res?.body]);
}

export interface KvChange {
  changes: KvKeyChange[];
  /** Every entry now, by key (relative to the connection's prefix). */
  entries: KvState;
}

function kvDiff(prev: KvState | undefined, next: KvState): KvChange | undefined {
  const changes = kvChanges(prev, next);
  // The first state is delivered even when empty: a watcher learns the key is absent.
  if (prev !== undefined && changes.length === 0) return undefined;
  return { changes, entries: next };
}

/** `key`: one key, GET /v1/kv/:key. */
export const keyWatch = defineWatchType<{ key: string }, Buffer | undefined, KvState, KvChange>({
  params: ['key'],
  validate(p) {
    validateKey(p.key);
  },
  describe: (p) => `key ${JSON.stringify(p.key)}`,
  fetch: (p, ctx) =>
    blockingFetch(`watch key ${JSON.stringify(p.key)}`, ctx, (c, o) =>
      getBody(c, o, ctx.http.connection.prefix + p.key, false),
    ),
  normalise: (body, _p, { prefix, previous }) => readKvState(body, prefix, previous),
  diff: kvDiff,
});

/** `keyprefix`: every key under a prefix, GET /v1/kv/:prefix?recurse. */
export const keyprefixWatch = defineWatchType<
  { prefix: string },
  Buffer | undefined,
  KvState,
  KvChange
>({
  params: ['prefix'],
  validate(p) {
    validateKey(p.prefix, 'prefix');
    if (typeof p.prefix !== 'string') throw new InvalidInputError('keyprefix watch needs a prefix');
  },
  describe: (p) => `keyprefix ${JSON.stringify(p.prefix)}`,
  fetch: (p, ctx) =>
    blockingFetch(`watch keyprefix ${JSON.stringify(p.prefix)}`, ctx, (c, o) =>
      getBody(c, o, ctx.http.connection.prefix + p.prefix, true),
    ),
  normalise: (body, _p, { prefix, previous }) => readKvState(body, prefix, previous),
  diff: kvDiff,
});
