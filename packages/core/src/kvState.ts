import { type KvEntry, type RawKvEntry, toEntry } from './kv';
import { diffKv, type KvKeyChange, type KvState, sameEntry } from './kvDiff';

/** KV entries as they come over the wire, Value as base64 text. */
export type WireKvEntry = RawKvEntry & { Value: string | null };

/** What a state was read from, position by position, and how it differs from the state before. */
interface Wire {
  /** Each entry's key and base64 value as Consul sent them. */
  keys: string[];
  values: (string | null)[];
  entries: KvEntry[];
  /** The state this one was read after, and the changes from it (in key order). */
  from: KvState | undefined;
  changes: KvKeyChange[];
}

const wires = new WeakMap<KvState, Wire>();

/**
 * The state of a KV answer. An entry whose key, indexes, flags, session and base64 value are
 * what the previous answer had is the previous state's own object (no decode, no new object),
 * and the changes against the previous state are found on the way, so a change to one key of
 * a large prefix costs one decode and one walk of the answer.
 */
export function readKvState(
  raws: readonly WireKvEntry[],
  prefix: string,
  previous: KvState | undefined,
): KvState {
  const before = previous === undefined ? undefined : wires.get(previous);
  // Only one step back is kept: a chain of states must not hold every older one.
  if (before) before.from = undefined;
  const count = raws.length;
  const wire: Wire = {
    keys: new Array<string>(count),
    values: new Array<string | null>(count),
    entries: new Array<KvEntry>(count),
    from: previous,
    changes: [],
  };
  const state = new Map<string, KvEntry>();
  const beforeCount = before?.keys.length ?? 0;
  /** Keys of the previous state found in this one. */
  let kept = 0;
  let j = 0;
  for (let i = 0; i < count; i++) {
    const raw = raws[i]!;
    let entry: KvEntry | undefined;
    let old: KvEntry | undefined;
    if (before) {
      // Both answers come in Consul's key order: walk the previous one alongside, past the
      // keys that are gone.
      if (j < beforeCount && before.keys[j] !== raw.Key)
        while (j < beforeCount && byteOrderBefore(before.keys[j]!, raw.Key)) j++;
      if (j < beforeCount && before.keys[j] === raw.Key) {
        old = before.entries[j]!;
        // Content, not the index alone: after a restore another value can come back at an old index.
        if (
          old.modifyIndex === raw.ModifyIndex &&
          old.flags === raw.Flags &&
          old.lockIndex === raw.LockIndex &&
          old.createIndex === raw.CreateIndex &&
          old.session === (raw.Session || undefined) &&
          before.values[j] === raw.Value
        ) {
          entry = old;
          wire.keys[i] = before.keys[j]!;
          wire.values[i] = before.values[j]!;
        }
        j++;
      }
    }
    if (entry === undefined) {
      entry = toEntry(raw, prefix);
      wire.keys[i] = raw.Key;
      wire.values[i] = raw.Value;
      if (previous) {
        // Not found on the walk: a new key, or an order the walk did not expect.
        old ??= previous.get(entry.key);
        if (old === undefined) wire.changes.push({ op: 'set', key: entry.key, entry });
        else if (!sameEntry(old, entry))
          wire.changes.push({ op: 'set', key: entry.key, entry, previous: old });
      }
    }
    if (old !== undefined) kept++;
    wire.entries[i] = entry;
    state.set(entry.key, entry);
  }
  if (previous && kept < previous.size) {
    for (const [key, gone] of previous)
      if (!state.has(key)) wire.changes.push({ op: 'delete', key, previous: gone });
  }
  if (wire.changes.length > 1)
    wire.changes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  wires.set(state, wire);
  return state;
}

/**
 * Whether `a` sorts before `b` in Consul's key order, the order of their UTF-8 bytes. That is
 * UTF-16's except that an astral character (a surrogate pair) sorts after U+E000–U+FFFF.
 */
function byteOrderBefore(a: string, b: string): boolean {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xSurrogate = x >= 0xd800 && x <= 0xdfff;
    const ySurrogate = y >= 0xd800 && y <= 0xdfff;
    return xSurrogate === ySurrogate ? x < y : ySurrogate;
  }
  return a.length < b.length;
}

/** The per-key changes from `prev` to `next`: the ones found while reading `next` when it was read right after `prev`. */
export function kvChanges(prev: KvState | undefined, next: KvState): KvKeyChange[] {
  const wire = wires.get(next);
  if (prev !== undefined && wire !== undefined && wire.from === prev) return wire.changes;
  return diffKv(prev, next);
}
