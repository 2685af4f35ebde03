import { InvalidInputError } from '../errors';
import { validateKey } from '../keys';
import { type KvEntry, type RawKvEntry, toEntry } from '../kv';
import { diffKv, type KvKeyChange, type KvState } from '../kvDiff';
import { blockingFetch, defineWatchType } from './watchType';

export interface KvChange {
  changes: KvKeyChange[];
  /** Every entry now, by key (relative to the connection's prefix). */
  entries: KvState;
}

function state(entries: KvEntry[]): Map<string, KvEntry> {
  const map = new Map<string, KvEntry>();
  for (const e of entries) map.set(e.key, e);
  return map;
}

function kvDiff(prev: KvState | undefined, next: KvState): KvChange | undefined {
  const changes = diffKv(prev, next);
  // The first state is delivered even when empty: a watcher learns the key is absent.
  if (prev !== undefined && changes.length === 0) return undefined;
  return { changes, entries: next };
}

/** `key`: one key, GET /v1/kv/:key. */
export const keyWatch = defineWatchType<{ key: string }, RawKvEntry | undefined, KvState, KvChange>(
  {
    validate(p) {
      validateKey(p.key);
    },
    describe: (p) => `key ${JSON.stringify(p.key)}`,
    fetch: (p, ctx) =>
      blockingFetch(`watch key ${JSON.stringify(p.key)}`, ctx, (c, o) =>
        c.kv.get({ ...o, key: ctx.http.connection.prefix + p.key, buffer: true }),
      ),
    normalise: (raw, _p, { prefix }) => state(raw ? [toEntry(raw, prefix)] : []),
    diff: kvDiff,
  },
);

/** `keyprefix`: every key under a prefix, GET /v1/kv/:prefix?recurse. */
export const keyprefixWatch = defineWatchType<
  { prefix: string },
  RawKvEntry[] | undefined,
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
      c.kv.get({ ...o, key: ctx.http.connection.prefix + p.prefix, recurse: true, buffer: true }),
    ),
  normalise: (raw, _p, { prefix }) => state((raw ?? []).map((r) => toEntry(r, prefix))),
  diff: kvDiff,
});
