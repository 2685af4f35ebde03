import type { ApiRequest } from '../consulHttp';
import { InvalidInputError } from '../errors';
import { validateKey } from '../keys';
import type { KvKeyChange, KvState } from '../kvDiff';
import { kvChanges, readKvState } from '../kvState';
import { blockingFetch, defineWatchType } from './watchType';

/**
 * GET /v1/kv/… with the body left as bytes: a watch parses only the entries whose bytes
 * changed and decodes only their values (kvState.ts).
 */
const kvRequest = (key: string, recurse: boolean): ApiRequest => ({
  path: `/kv/${encodeURIComponent(key)}`,
  ...(recurse ? { query: 'recurse=true' } : {}),
  read: 'bytes',
});

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
    blockingFetch(
      `watch key ${JSON.stringify(p.key)}`,
      ctx,
      kvRequest(ctx.http.connection.prefix + p.key, false),
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
    blockingFetch(
      `watch keyprefix ${JSON.stringify(p.prefix)}`,
      ctx,
      kvRequest(ctx.http.connection.prefix + p.prefix, true),
    ),
  normalise: (body, _p, { prefix, previous }) => readKvState(body, prefix, previous),
  diff: kvDiff,
});
