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
  const query: Record<string, string> = {};
  if (recurse) query.recurse = 'true';
  if (o.dc) query.dc = o.dc;
  if (o.consistent) query.consistent = '1';
  else if (o.stale) query.stale = '1';
  if (o.index !== undefined) query.index = o.index;
  if (o.wait !== undefined) query.wait = o.wait;
  const headers: Record<string, string> = {};
  if (o.token) headers['x-consul-token'] = o.token;
  type Step = {
    res?: { statusCode: number; body?: unknown };
    err?: Error & { response?: unknown };
  };
  // The body comes as bytes (`buffer`): a watch parses only the entries that changed.
  // An error's body is Consul's message, which the error names: that is text.
  return client._get(
    {
      name: 'kv.get',
      path: '/kv/{key}',
      params: { key },
      query,
      headers,
      ctx: o.ctx,
      timeout: o.timeout,
      buffer: true,
    },
    (request: Step, next: (error: unknown, _?: undefined, result?: unknown) => void) => {
      if (request.res?.statusCode === 404) return next(false, undefined, [request.res]);
      if (request.err) {
        if (Buffer.isBuffer(request.res?.body)) request.res.body = request.res.body.toString();
        request.err.response = request.res;
        return next(request.err);
      }
      next(false, undefined, [request.res, request.res?.body]);
    },
  );
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
