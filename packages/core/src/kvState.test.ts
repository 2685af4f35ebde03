import { seededRandom } from '@consul-watch/dev-server/testing';
import { describe, expect, it } from 'vitest';
import { toEntry } from './kv';
import { diffKv, type KvState } from './kvDiff';
import { kvChanges, readKvState, type WireKvEntry } from './kvState';

/** Consul's key order: bytewise, as Go compares strings. */
const consulOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('readKvState', () => {
  it('reads what a fresh decode reads, reuses unchanged entries and finds the changes a full diff finds', () => {
    const random = seededRandom(12);
    // Keys whose UTF-16 and UTF-8 orders differ (an astral character against U+FF5E) included.
    const names = ['a', 'b', 'c/d', 'c/e', 'é', '\uff5e', '😀', 'z'];
    const prefix = 'app/';
    let wire = new Map<string, WireKvEntry>();
    let index = 1;
    let previous: KvState | undefined;
    for (let step = 0; step < 2_000; step++) {
      const next = new Map(wire);
      for (const name of names) {
        const r = random();
        const key = `${prefix}${name}`;
        if (r < 0.1) next.delete(key);
        else if (r < 0.25 || (r < 0.3 && !next.has(key))) {
          const old = next.get(key);
          // Now and then the same bytes written again: a new index, no change.
          const value =
            old && random() < 0.3 ? old.Value : Buffer.from(`v${step}`).toString('base64');
          next.set(key, {
            Key: key,
            Value: value,
            Flags: random() < 0.1 ? 7 : 0,
            CreateIndex: old?.CreateIndex ?? index,
            ModifyIndex: index++,
            LockIndex: 0,
          });
        }
      }
      const raws = [...next.values()].sort((x, y) => consulOrder(x.Key, y.Key));
      const state = readKvState(raws, prefix, previous);
      expect(state).toEqual(new Map(raws.map((r) => [r.Key.slice(4), toEntry(r, prefix)])));
      if (previous) {
        expect(kvChanges(previous, state)).toEqual(diffKv(previous, state));
        for (const [key, entry] of state) {
          const before = wire.get(`${prefix}${key}`);
          if (before && before === next.get(`${prefix}${key}`))
            expect(entry).toBe(previous.get(key));
        }
      }
      wire = next;
      previous = state;
    }
  });

  it('answers a diff between states that were not read one after the other', () => {
    const raw = (key: string, value: string, index: number): WireKvEntry => ({
      Key: key,
      Value: Buffer.from(value).toString('base64'),
      Flags: 0,
      CreateIndex: 1,
      ModifyIndex: index,
      LockIndex: 0,
    });
    const first = readKvState([raw('a', '1', 1), raw('b', '1', 1)], '', undefined);
    const second = readKvState([raw('a', '2', 2), raw('b', '1', 1)], '', first);
    const third = readKvState([raw('b', '1', 1), raw('c', '1', 3)], '', second);
    expect(third.get('b')).toBe(first.get('b'));
    expect(kvChanges(first, third).map((c) => `${c.op} ${c.key}`)).toEqual(['delete a', 'set c']);
    expect(kvChanges(second, third)).toEqual(diffKv(second, third));
  });
});
