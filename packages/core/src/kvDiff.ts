import type { KvEntry } from './kv';

export type KvKeyChange =
  | { op: 'set'; key: string; entry: KvEntry; previous?: KvEntry }
  | { op: 'delete'; key: string; previous: KvEntry };

export type KvState = ReadonlyMap<string, KvEntry>;

/**
 * Same data: value bytes, flags and session. Not the ModifyIndex alone: after a snapshot
 * restore indexes go backwards and a later write can land on a ModifyIndex a different value
 * had before, so an equal index does not prove equal data (the soak run found this).
 */
export const sameEntry = (a: KvEntry, b: KvEntry) =>
  a === b ||
  (a.flags === b.flags &&
    a.session === b.session &&
    (a.value === b.value || a.value.equals(b.value)));

/**
 * Per-key changes between two KV states, in key order, by content: a rewrite of the same
 * bytes and flags is not a change. A key present before and absent now is a delete — the
 * case a watch that only looks at what is present misses.
 */
export function diffKv(prev: KvState | undefined, next: KvState): KvKeyChange[] {
  const changes: KvKeyChange[] = [];
  for (const [key, entry] of next) {
    const before = prev?.get(key);
    if (!before) changes.push({ op: 'set', key, entry });
    else if (!sameEntry(before, entry)) changes.push({ op: 'set', key, entry, previous: before });
  }
  if (prev) {
    for (const [key, before] of prev) {
      if (!next.has(key)) changes.push({ op: 'delete', key, previous: before });
    }
  }
  if (prev && changes.length > 1)
    changes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return changes;
}
