import type { AnyClient, ClientCallOptions } from '../consulHttp';
import { InvalidInputError } from '../errors';
import { validateKey } from '../keys';
import type { KvKeyChange, KvState } from '../kvDiff';
import { kvChanges, readKvState, type WireKvEntry } from '../kvState';
import { blockingFetch, defineWatchType } from './watchType';

/**
 * GET /v1/kv/… over the `consul` client's own transport (its `_get`, as its `kv.get` uses),
 * without the per-entry base64 decode `kv.get` does: a watch compares each entry's text with
 * what it had and decodes only what changed. On a 10,000-key prefix that decode was most of
 * the client-side cost of a change to one key.
 */
function getUndecoded(
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
  return client._get(
    {
      name: 'kv.get',
      path: '/kv/{key}',
      params: { key },
      query,
      headers,
      ctx: o.ctx,
      timeout: o.timeout,
    },
    (request: Step, next: (error: unknown, _?: undefined, result?: unknown) => void) => {
      if (request.res?.statusCode === 404) return next(false, undefined, [request.res]);
      if (request.err) {
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
export const keyWatch = defineWatchType<
  { key: string },
  WireKvEntry[] | undefined,
  KvState,
  KvChange
>({
  validate(p) {
    validateKey(p.key);
  },
  describe: (p) => `key ${JSON.stringify(p.key)}`,
  fetch: (p, ctx) =>
    blockingFetch(`watch key ${JSON.stringify(p.key)}`, ctx, (c, o) =>
      getUndecoded(c, o, ctx.http.connection.prefix + p.key, false),
    ),
  normalise: (raw, _p, { prefix, previous }) =>
    readKvState(raw?.[0] ? [raw[0]] : [], prefix, previous),
  diff: kvDiff,
});

/** `keyprefix`: every key under a prefix, GET /v1/kv/:prefix?recurse. */
export const keyprefixWatch = defineWatchType<
  { prefix: string },
  WireKvEntry[] | undefined,
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
      getUndecoded(c, o, ctx.http.connection.prefix + p.prefix, true),
    ),
  normalise: (raw, _p, { prefix, previous }) => readKvState(raw ?? [], prefix, previous),
  diff: kvDiff,
});
