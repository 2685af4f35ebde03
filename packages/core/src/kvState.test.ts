import { seededRandom } from '@consul-watch/dev-server/testing';
import { describe, expect, it } from 'vitest';
import { toEntry } from './kv';
import { diffKv, type KvState } from './kvDiff';
import { kvChanges, readKvState, type WireKvEntry } from './kvState';

/** Consul's key order: bytewise, as Go compares strings. */
const consulOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** A KV answer's body as Consul writes it (compact, its field order), or pretty-printed. */
function bodyOf(entries: WireKvEntry[], pretty = false): Buffer | undefined {
  if (entries.length === 0) return undefined;
  const ordered = entries.map((e) => ({
    LockIndex: e.LockIndex,
    Key: e.Key,
    Flags: e.Flags,
    Value: e.Value,
    ...(e.Session ? { Session: e.Session } : {}),
    CreateIndex: e.CreateIndex,
    ModifyIndex: e.ModifyIndex,
  }));
  return Buffer.from(pretty ? JSON.stringify(ordered, null, 2) : JSON.stringify(ordered));
}

describe('readKvState', () => {
  const shapes = {
    compact: 'compact bodies, read in part',
    pretty: 'pretty-printed bodies, read whole',
    mixed: 'either, in turn',
  };
  for (const [shape, title] of Object.entries(shapes)) {
    it(`reads what a whole decode reads, reuses unchanged entries and finds the changes a full diff finds (${title})`, () => {
      const random = seededRandom(shape.length);
      // Keys whose UTF-16 and UTF-8 orders differ (an astral character against U+FF5E), and
      // keys holding what an entry's text looks like.
      const names = ['a', 'b', 'c/d', 'c/e', 'é', '\uff5e', '😀', 'z', '},{"LockIndex":0,', '"]'];
      const prefix = 'app/';
      let wire = new Map<string, WireKvEntry>();
      let index = 1;
      let previous: KvState | undefined;
      for (let step = 0; step < 2_000; step++) {
        const next = new Map(wire);
        for (const name of names) {
          const r = random();
          const key = `${prefix}${name}`;
          if (r < 0.08) next.delete(key);
          else if (r < 0.2 || (r < 0.3 && !next.has(key))) {
            const old = next.get(key);
            // Now and then the same bytes written again: a new index, no change.
            const value =
              old && random() < 0.3
                ? old.Value
                : random() < 0.1
                  ? null
                  : Buffer.from(`v${step}`.repeat(1 + Math.floor(random() * 40))).toString(
                      'base64',
                    );
            const entry: WireKvEntry = {
              Key: key,
              Value: value,
              Flags: random() < 0.1 ? 7 : 0,
              CreateIndex: old?.CreateIndex ?? index,
              ModifyIndex: index++,
              LockIndex: random() < 0.1 ? 1 : 0,
            };
            if (random() < 0.1) entry.Session = `s-${step}`;
            next.set(key, entry);
          }
        }
        const raws = [...next.values()].sort((x, y) => consulOrder(x.Key, y.Key));
        const pretty = shape === 'pretty' || (shape === 'mixed' && random() < 0.3);
        const state = readKvState(bodyOf(raws, pretty), prefix, previous);
        expect(state).toEqual(new Map(raws.map((r) => [r.Key.slice(4), toEntry(r, prefix)])));
        expect([...state.keys()]).toEqual(raws.map((r) => r.Key.slice(4)));
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
  }

  it('answers a diff between states that were not read one after the other', () => {
    const raw = (key: string, value: string, index: number): WireKvEntry => ({
      Key: key,
      Value: Buffer.from(value).toString('base64'),
      Flags: 0,
      CreateIndex: 1,
      ModifyIndex: index,
      LockIndex: 0,
    });
    const first = readKvState(bodyOf([raw('a', '1', 1), raw('b', '1', 1)]), '', undefined);
    const second = readKvState(bodyOf([raw('a', '2', 2), raw('b', '1', 1)]), '', first);
    const third = readKvState(bodyOf([raw('b', '1', 1), raw('c', '1', 3)]), '', second);
    expect(third.get('b')).toBe(first.get('b'));
    expect(kvChanges(first, third).map((c) => `${c.op} ${c.key}`)).toEqual(['delete a', 'set c']);
    expect(kvChanges(second, third)).toEqual(diffKv(second, third));
  });

  it('refuses a body that is not a JSON array', () => {
    expect(() => readKvState(Buffer.from('{"Key":"a"}'), '', undefined)).toThrow(TypeError);
    expect(() => readKvState(Buffer.from('[{"Key":'), '', undefined)).toThrow(SyntaxError);
  });
});
