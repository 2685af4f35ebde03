import type { KvEntry } from '../kv';
import type { WatchChange } from '../watchTypes';

function bytes(value: Buffer | null): { value: string | null; encoding?: 'base64' } {
  if (value === null) return { value: null };
  const text = value.toString('utf8');
  // Bytes that are not valid UTF-8 travel as base64, and say so.
  return Buffer.from(text, 'utf8').equals(value)
    ? { value: text }
    : { value: value.toString('base64'), encoding: 'base64' };
}

function entry(e: KvEntry) {
  return {
    key: e.key,
    ...bytes(e.value),
    flags: e.flags,
    createIndex: e.createIndex,
    modifyIndex: e.modifyIndex,
    lockIndex: e.lockIndex,
    ...(e.session ? { session: e.session } : {}),
  };
}

/**
 * A change as plain JSON, for handlers outside the process: KV values as UTF-8 text (base64
 * with `encoding` when they are not text), the state as an array, event payloads likewise.
 */
export function changeToJson(change: WatchChange): unknown {
  const head = { type: change.type, index: change.index, initial: change.initial };
  switch (change.type) {
    case 'key':
    case 'keyprefix':
      return {
        ...head,
        changes: change.changes.map((c) =>
          c.op === 'delete'
            ? { op: 'delete', key: c.key, previous: entry(c.previous) }
            : {
                op: 'set',
                key: c.key,
                entry: entry(c.entry),
                ...(c.previous ? { previous: entry(c.previous) } : {}),
              },
        ),
        entries: [...change.entries.values()].map(entry),
      };
    case 'event':
      return {
        ...head,
        events: change.events.map((e) => ({
          ...e,
          Payload: bytes(e.Payload).value,
          ...(bytes(e.Payload).encoding ? { PayloadEncoding: 'base64' } : {}),
        })),
      };
    default:
      return {
        ...head,
        added: change.added,
        removed: change.removed,
        changed: change.changed,
        current: change.current,
      };
  }
}
