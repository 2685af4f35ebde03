import { seededRandom } from '@consul-watch/dev-server/testing';
import { describe, expect, it } from 'vitest';
import { type RawKvEntry, relativeKey, toEntry } from './kv';
import { diffKv, type KvState } from './kvDiff';
import { kvChanges, readKvState } from './kvState';
import { cutBody, entryStarts } from './kvWire';

/** One entry as the test writes it: Flags as raw number text (uint64s do not fit a double). */
interface E {
  Key: string;
  Value: string | null;
  Flags?: string;
  Session?: string;
  LockIndex?: number;
  CreateIndex?: number;
  ModifyIndex?: number;
}

/** How a body is written. */
interface Format {
  /** Field order: Consul's, Key first (LockIndex last), or Consul's plus Enterprise fields. */
  order?: 'consul' | 'keyFirst' | 'enterprise';
  /** Go's encoding/json escapes <, >, & and U+2028/U+2029; JSON.stringify does not. */
  go?: boolean;
  colon?: string;
  comma?: string;
  /** Between entries (after the comma). */
  gap?: string;
  open?: string;
  close?: string;
  /** After `[`, before `]`, after `]`. */
  lead?: string;
  tail?: string;
  after?: string;
}

const COMPACT: Format = {};
const GO: Format = { go: true };
const SPACED: Format = { colon: ': ', comma: ', ', gap: ' ' };
const GAPPED: Format = { gap: ' ' };
const PRETTY: Format = {
  open: '\n    ',
  comma: ',\n    ',
  colon: ': ',
  close: '\n  ',
  gap: '\n  ',
  lead: '\n  ',
  tail: '\n',
  after: '\n',
};
const KEY_FIRST: Format = { order: 'keyFirst' };
const ENTERPRISE: Format = { order: 'enterprise' };

const str = (s: string, go: boolean) => {
  const json = JSON.stringify(s);
  return go
    ? json
        .replace(/</g, '\\u003c')
        .replace(/>/g, '\\u003e')
        .replace(/&/g, '\\u0026')
        .replace(/\u2028/g, '\\u2028')
        .replace(/\u2029/g, '\\u2029')
    : json;
};

function entryText(e: E, f: Format): string {
  const go = f.go ?? false;
  const fields: [string, string][] = [
    ['LockIndex', String(e.LockIndex ?? 0)],
    ['Key', str(e.Key, go)],
    ['Flags', e.Flags ?? '0'],
    ['Value', e.Value === null ? 'null' : str(e.Value, go)],
  ];
  if (e.Session) fields.push(['Session', str(e.Session, go)]);
  fields.push(['CreateIndex', String(e.CreateIndex ?? 1)]);
  fields.push(['ModifyIndex', String(e.ModifyIndex ?? 1)]);
  if (f.order === 'keyFirst') fields.push(fields.shift()!);
  if (f.order === 'enterprise') fields.push(['Namespace', '"default"'], ['Partition', '"default"']);
  const colon = f.colon ?? ':';
  return `{${f.open ?? ''}${fields.map(([k, v]) => `"${k}"${colon}${v}`).join(f.comma ?? ',')}${f.close ?? ''}}`;
}

function body(entries: E[], f: Format = COMPACT): Buffer {
  const texts = entries.map((e) => entryText(e, f));
  const inner =
    entries.length === 0 ? '' : `${f.lead ?? ''}${texts.join(`,${f.gap ?? ''}`)}${f.tail ?? ''}`;
  return Buffer.from(`[${inner}]${f.after ?? ''}`);
}

/** The top-level objects of a JSON array, as text (for the byte-identity check). */
function splitEntries(text: string): string[] {
  const out: string[] = [];
  let inString = false;
  let escaped = false;
  let depth = 0;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      if (depth === 1 && c === '{') start = i;
      depth++;
    } else if (c === ']' || c === '}') {
      depth--;
      if (depth === 1 && c === '}') out.push(text.slice(start, i + 1));
    }
  }
  return out;
}

/** Each relative key's entry text in a body. */
function textsOf(b: Buffer | undefined, prefix: string): Map<string, string> {
  const texts = new Map<string, string>();
  if (b === undefined || b.length === 0) return texts;
  for (const t of splitEntries(b.toString()))
    texts.set(relativeKey((JSON.parse(t) as RawKvEntry).Key, prefix), t);
  return texts;
}

/** The whole decode the optimisation must agree with. */
function wholeDecode(b: Buffer | undefined, prefix: string) {
  const raws: RawKvEntry[] = b === undefined || b.length === 0 ? [] : JSON.parse(b.toString());
  return new Map(raws.map((r) => [relativeKey(r.Key, prefix), toEntry(r, prefix)]));
}

interface Step {
  state: KvState;
  body: Buffer | undefined;
}

/** Reads one body after `prev` and checks (a) whole decode, in order, (b) changes, (c) identity. */
function step(prev: Step | undefined, b: Buffer | undefined, prefix: string): Step {
  const state = readKvState(b, prefix, prev?.state);
  const whole = wholeDecode(b, prefix);
  expect(state).toEqual(whole);
  expect([...state.keys()]).toEqual([...whole.keys()]);
  expect([...state.values()]).toEqual([...whole.values()]);
  if (prev) {
    expect(kvChanges(prev.state, state)).toEqual(diffKv(prev.state, state));
    const before = textsOf(prev.body, prefix);
    const now = textsOf(b, prefix);
    for (const [key, text] of now) {
      if (before.get(key) === text)
        expect(state.get(key), `identity of ${key}`).toBe(prev.state.get(key));
    }
  } else {
    expect(kvChanges(undefined, state)).toEqual(diffKv(undefined, state));
  }
  return { state, body: b };
}

/** Feeds successive bodies (undefined: a 404) through readKvState, checking each. */
function run(prefix: string, bodies: (Buffer | undefined)[]): Step[] {
  const steps: Step[] = [];
  let prev: Step | undefined;
  for (const b of bodies) {
    prev = step(prev, b, prefix);
    steps.push(prev);
  }
  return steps;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const e = (Key: string, value: string | null, ModifyIndex = 10, more: Partial<E> = {}): E => ({
  Key,
  Value: value === null ? null : b64(value),
  CreateIndex: 2,
  ModifyIndex,
  ...more,
});

const TRICKY = [
  'a',
  'a/b',
  '{"LockIndex":0,',
  '},{"LockIndex":1,"Key":"x"}',
  '"',
  '\\',
  '\\"',
  'x{',
  'x\\{',
  '"LockIndex":',
  ']',
  '[',
  ',',
  '😀',
  '😀{"LockIndex":',
  '\uff5e',
  'line\u2028sep\u2029',
  '<&>',
  'é',
  'z',
];

describe('kvWire: entryStarts and cutBody', () => {
  it('finds entries only where they begin, whatever the keys hold', () => {
    const entries = TRICKY.map((k) => e(k, k));
    for (const f of [COMPACT, GO, ENTERPRISE]) {
      const b = body(entries, f);
      const starts = entryStarts(b, entries.length)!;
      expect(starts).toHaveLength(entries.length);
      for (const [i, at] of starts.entries())
        expect(
          JSON.parse(
            b.toString('utf8', at, i + 1 < starts.length ? starts[i + 1]! - 1 : b.length - 1),
          ).Key,
        ).toBe(entries[i]!.Key);
    }
    expect(entryStarts(body(entries, PRETTY), entries.length)).toBeUndefined();
    expect(entryStarts(body(entries, KEY_FIRST), entries.length)).toBeUndefined();
    expect(entryStarts(body(entries, { after: '\n' }), entries.length)).toBeUndefined();
    expect(entryStarts(body(entries, { lead: ' ' }), entries.length)).toBeUndefined();
    expect(entryStarts(Buffer.from('[]'), 0)).toEqual([]);
  });

  it('does not cut a body whose head and tail would overlap', () => {
    const a = e('k', 'v');
    const prev = body([a, a, a]);
    const cut = cutBody(prev, entryStarts(prev, 3)!, body([a, a]));
    // Either refused, or a cut whose entries add up to the two there are.
    if (cut) expect(cut.head + cut.tail + cut.middle.length).toBe(2);
  });

  it('cuts compact bodies at the entries that changed, tricky keys included', () => {
    const sorted = [...TRICKY].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    const all = sorted.map((s, i) => e(s, s, 100 + i));
    const prev = body(all);
    const starts = entryStarts(prev, all.length)!;
    for (let i = 0; i < all.length; i++) {
      const changed = all.map((x, j) => (j === i ? { ...x, ModifyIndex: 999 } : x));
      expect(cutBody(prev, starts, body(changed))).toMatchObject({
        head: i,
        tail: all.length - i - 1,
        middle: [{ Key: all[i]!.Key, ModifyIndex: 999 }],
      });
      expect(cutBody(prev, starts, body(all.filter((_, j) => j !== i)))).toMatchObject({
        head: i,
        tail: all.length - i - 1,
        middle: [],
      });
    }
    expect(cutBody(prev, starts, prev)).toMatchObject({ head: all.length, tail: 0, middle: [] });
    expect(cutBody(prev, starts, Buffer.from('[]'))).toMatchObject({
      head: 0,
      tail: 0,
      middle: [],
    });
  });

  it('refuses a next body that is not an array', () => {
    const prev = body([e('a', '1')]);
    expect(cutBody(prev, entryStarts(prev, 1)!, Buffer.from('{"a":1}'))).toBeUndefined();
    expect(cutBody(prev, entryStarts(prev, 1)!, Buffer.from('[{"LockIndex":0'))).toBeUndefined();
  });
});

describe('kvWire: readKvState against a whole decode', () => {
  for (const prefix of ['', 'app/', 'app/😀/']) {
    const k = (s: string) => prefix + s;
    describe(`prefix ${JSON.stringify(prefix)}`, () => {
      it('inserts and deletes at the start, middle and end', () => {
        const A = e(k('a'), 'A');
        const B = e(k('b'), 'B');
        const C = e(k('c'), 'C');
        const D = e(k('d'), 'D');
        const E0 = e(k('e'), 'E');
        run(prefix, [
          body([B, C, D]),
          body([A, B, C, D]), // insert at start
          body([A, B, C, D, E0]), // at end
          body([A, B, D, E0]), // delete in the middle
          body([A, B, C, D, E0]), // insert in the middle
          body([B, C, D, E0]), // delete at start
          body([B, C, D]), // delete at end
          body([C]), // several at both ends
          body([A, B, C, D, E0]), // several at both ends
          body([A, E0]), // all of the middle
          body([A, e(k('b'), 'B2', 11), e(k('c'), 'C2', 12), E0]),
          body([]), // everything deleted (an empty array)
          body([A]),
          undefined, // everything deleted (404)
          body([A, B]),
          Buffer.alloc(0),
          body([C, D]),
        ]);
      });

      it('reads one entry only: changed, deleted, back, unchanged', () => {
        run(prefix, [
          body([e(k('only'), 'v1', 5)]),
          body([e(k('only'), 'v2', 6)]),
          body([e(k('only'), 'v2', 6)]),
          body([e(k('only'), null, 7)]),
          body([e(k('other'), null, 7)]),
          undefined,
          body([e(k('only'), 'v2', 8)]),
          body([e(k('only'), 'v2', 8)]),
          body([]),
          body([]),
          body([e(k('only'), 'v3', 9)]),
        ]);
      });

      it('reads identical bodies as the same entries, no changes', () => {
        const entries = TRICKY.map((s, i) => e(k(s), s, 100 + i));
        const [first, second, third] = run(prefix, [body(entries), body(entries), body(entries)]);
        expect(kvChanges(first!.state, second!.state)).toEqual([]);
        for (const [key, entry] of third!.state) expect(entry).toBe(first!.state.get(key));
      });

      it('reads keys that hold entry text, quotes, backslashes and unicode', () => {
        const sorted = [...TRICKY].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        const all = sorted.map((s, i) => e(k(s), s, 100 + i));
        const bodies: Buffer[] = [body(all)];
        // Each key in turn changed, removed, put back.
        for (let i = 0; i < all.length; i++) {
          const changed = all.map((x, j) =>
            j === i ? { ...x, Value: b64('changed'), ModifyIndex: 500 + i } : x,
          );
          bodies.push(body(changed), body(all.filter((_, j) => j !== i)), body(all));
        }
        // The same in Go's escaping (<, >, &, U+2028 written as \u escapes).
        bodies.push(body(all, GO), body(all.slice(1), GO), body(all, GO), body(all));
        run(prefix, bodies);
      });

      it('reads empty values, sessions appearing and going, lock index changes', () => {
        const S = '0bdc2ac5-3f1e-6b1e-7d1b-3f6a8e1b2c3d';
        run(prefix, [
          body([e(k('a'), 'x', 5), e(k('b'), null, 5), e(k('c'), 'z', 5)]),
          body([
            e(k('a'), 'x', 5),
            e(k('b'), null, 6, { Session: S, LockIndex: 1 }),
            e(k('c'), 'z', 5),
          ]),
          body([e(k('a'), 'x', 5), e(k('b'), null, 7, { LockIndex: 1 }), e(k('c'), 'z', 5)]),
          body([e(k('a'), null, 8), e(k('b'), '', 9, { LockIndex: 1 }), e(k('c'), 'z', 5)]),
          body([
            e(k('a'), '', 10),
            e(k('b'), null, 11, { LockIndex: 1 }),
            e(k('c'), 'z', 5, { Session: S }),
          ]),
          body([
            e(k('a'), '', 10),
            e(k('b'), null, 11, { LockIndex: 2, Session: S }),
            e(k('c'), 'z', 5),
          ]),
        ]);
      });

      it('reads bodies of the same length whose content moved', () => {
        // Values of one length swap places; an entry grows while its neighbour shrinks.
        run(prefix, [
          body([e(k('a'), 'XXXX', 10), e(k('b'), 'YYYY', 11), e(k('c'), 'ZZZZ', 12)]),
          body([e(k('a'), 'YYYY', 11), e(k('b'), 'XXXX', 10), e(k('c'), 'ZZZZ', 12)]),
          body([e(k('a'), 'YYYY', 11), e(k('b'), 'ZZZZ', 12), e(k('c'), 'XXXX', 10)]),
          body([e(k('a'), 'YYYYYYY', 11), e(k('b'), 'Z', 12), e(k('c'), 'XXXX', 10)]),
          body([e(k('a'), 'Y', 11), e(k('b'), 'ZZZZZZZ', 12), e(k('c'), 'XXXX', 10)]),
          // Keys of one length: a key replaced by another of the same length.
          body([e(k('a'), 'Y', 11), e(k('q'), 'ZZZZZZZ', 12), e(k('c'), 'XXXX', 10)]),
          body([e(k('a'), 'Y', 11), e(k('b'), 'ZZZZZZZ', 12), e(k('c'), 'XXXX', 10)]),
          // Indexes trade digits with values.
          body([e(k('a'), 'Y', 111), e(k('b'), 'ZZZZZZZ', 12), e(k('c'), 'XXXX', 10)]),
          body([e(k('a'), 'Y', 11), e(k('b'), 'ZZZZZZZ', 112), e(k('c'), 'XXXX', 10)]),
        ]);
      });

      it('reads after a pretty-printed, spaced or differently ordered body, and back', () => {
        const v1 = [e(k('a'), '1', 5), e(k('b'), '2', 6), e(k('c'), '3', 7), e(k('d'), '4', 8)];
        const v2 = [e(k('a'), '1', 5), e(k('b'), '2b', 9), e(k('c'), '3', 7), e(k('d'), '4', 8)];
        const v3 = [e(k('a'), '1', 5), e(k('c'), '3', 7), e(k('d'), '4', 8), e(k('e'), '5', 10)];
        const formats = [
          COMPACT,
          PRETTY,
          SPACED,
          GAPPED,
          KEY_FIRST,
          ENTERPRISE,
          GO,
          { lead: ' ' },
          { after: '\n' },
        ];
        const bodies: Buffer[] = [];
        for (const f of formats)
          for (const g of formats)
            bodies.push(body(v1, f), body(v2, g), body(v2, g), body(v3, g), body(v1, COMPACT));
        run(prefix, bodies);
      });

      it('reads a next body whose changed entries are in another field order', () => {
        const v1 = [e(k('a'), '1', 5), e(k('b'), '2', 6), e(k('c'), '3', 7)];
        const mixed = Buffer.from(
          `[${entryText(v1[0]!, COMPACT)},${entryText({ ...v1[1]!, Value: b64('x'), ModifyIndex: 9 }, KEY_FIRST)},${entryText(v1[2]!, COMPACT)}]`,
        );
        const mixed2 = Buffer.from(
          `[${entryText(v1[0]!, COMPACT)},${entryText({ ...v1[1]!, Value: b64('y'), ModifyIndex: 10 }, ENTERPRISE)},${entryText(v1[2]!, SPACED)}]`,
        );
        run(prefix, [body(v1), mixed, body(v1), mixed2, mixed, body(v1)]);
      });

      it('reads Flags as large integers', () => {
        const flags = [
          '0',
          '9007199254740993',
          '9007199254740992',
          '18446744073709551615',
          '18446744073709551614',
          '42',
        ];
        run(
          prefix,
          flags.map((Flags, i) =>
            body([
              e(k('a'), 'v', 5),
              e(k('b'), 'v', 6 + i, { Flags }),
              e(k('c'), 'v', 5, { Flags: flags[5 - i] }),
            ]),
          ),
        );
      });

      it('reads a value rewritten with the same bytes (a new index, not a change)', () => {
        const steps = run(prefix, [
          body([e(k('a'), '1', 5), e(k('b'), '2', 6)]),
          body([e(k('a'), '1', 5), e(k('b'), '2', 7)]),
          body([e(k('a'), '1', 8), e(k('b'), '2', 7)]),
        ]);
        expect(kvChanges(steps[0]!.state, steps[1]!.state)).toEqual([]);
        expect(kvChanges(steps[1]!.state, steps[2]!.state)).toEqual([]);
      });
    });
  }

  it('strips the prefix, including a key that is the prefix itself', () => {
    const prefix = 'app/';
    run(prefix, [
      body([e('app/', 'root', 3), e('app/a', '1', 4)]),
      body([e('app/', 'root2', 5), e('app/a', '1', 4)]),
      body([e('app/a', '1', 4)]),
      body([e('app/', 'root2', 5), e('app/a', '1', 4), e('app/b', '2', 6)]),
    ]);
  });

  it('answers changes between states not read one after the other, and branches', () => {
    const s1 = readKvState(body([e('a', '1', 1), e('b', '1', 1), e('c', '1', 1)]), '', undefined);
    const s2 = readKvState(body([e('a', '2', 2), e('b', '1', 1), e('c', '1', 1)]), '', s1);
    const s3 = readKvState(body([e('a', '2', 2), e('b', '1', 1), e('c', '3', 3)]), '', s2);
    // Two answers read after the same state.
    const s3b = readKvState(body([e('b', '1', 1), e('c', '1', 1)]), '', s2);
    for (const [x, y] of [
      [s1, s3],
      [s2, s3],
      [s1, s2],
      [s2, s3b],
      [s3, s3b],
      [s3b, s3],
      [s1, s3b],
    ] as const)
      expect(kvChanges(x, y)).toEqual(diffKv(x, y));
    expect(s3b.get('b')).toBe(s1.get('b'));
    // A previous state that readKvState did not make.
    const plain: KvState = new Map([
      ['a', toEntry({ ...e('a', '2', 2), Flags: 0, LockIndex: 0 } as RawKvEntry, '')],
    ]);
    const s4 = readKvState(body([e('a', '2', 2), e('b', '1', 1)]), '', plain);
    expect(kvChanges(plain, s4)).toEqual(diffKv(plain, s4));
    expect(s4).toEqual(wholeDecode(body([e('a', '2', 2), e('b', '1', 1)]), ''));
  });

  it('reads a large prefix changed at random places, a few keys at a time', () => {
    const random = seededRandom(7);
    const prefix = 'svc/';
    const names = Array.from({ length: 300 }, (_, i) => `${prefix}k${String(i).padStart(4, '0')}`);
    let live = new Map<string, E>();
    for (const name of names.slice(0, 200)) live.set(name, e(name, `v-${name}`, 100));
    let index = 1000;
    const bodies: Buffer[] = [];
    for (let s = 0; s < 60; s++) {
      const next = new Map(live);
      const n = 1 + Math.floor(random() * 4);
      for (let c = 0; c < n; c++) {
        const name = names[Math.floor(random() * names.length)]!;
        const r = random();
        if (r < 0.3) next.delete(name);
        else next.set(name, e(name, r < 0.5 ? `v-${name}` : `w${index}`, index++));
      }
      // Now and then a run of deletes or inserts at one end.
      if (random() < 0.05) for (const name of names.slice(0, 20)) next.delete(name);
      if (random() < 0.05)
        for (const name of names.slice(-20)) next.set(name, e(name, 'end', index++));
      live = next;
      bodies.push(
        body(
          [...live.values()].sort((x, y) => Buffer.compare(Buffer.from(x.Key), Buffer.from(y.Key))),
        ),
      );
    }
    run(prefix, bodies);
  });
});

describe('kvWire: randomized against a whole decode', () => {
  const formats: Format[] = [
    COMPACT,
    COMPACT,
    COMPACT,
    COMPACT,
    GO,
    PRETTY,
    SPACED,
    GAPPED,
    KEY_FIRST,
    ENTERPRISE,
  ];
  for (const prefix of ['', 'app/']) {
    for (const formatting of ['compact', 'mixed'] as const) {
      it(`prefix ${JSON.stringify(prefix)}, ${formatting} bodies`, () => {
        const random = seededRandom(prefix.length * 10 + formatting.length);
        const names = (prefix ? [...TRICKY, ''] : TRICKY).map((s) => prefix + s);
        const values = ['AAAA', 'BBBB', 'CCCC', 'x', 'yy', '', '{"LockIndex":0}', '😀', null];
        const sessions = [
          '11111111-1111-1111-1111-111111111111',
          '22222222-2222-2222-2222-222222222222',
        ];
        let live = new Map<string, E>();
        let index = 1000;
        let prev: Step | undefined;
        for (let s = 0; s < 600; s++) {
          const next = new Map(live);
          for (const name of names) {
            const r = random();
            if (r < 0.05) next.delete(name);
            else if (r < 0.15 || (r < 0.2 && !next.has(name))) {
              const old = next.get(name);
              const v = values[Math.floor(random() * values.length)]!;
              const entry: E = {
                Key: name,
                Value: v === null ? null : b64(v),
                // Same-width indexes now and then, so bodies keep their length as content moves.
                ModifyIndex: random() < 0.5 ? (old?.ModifyIndex ?? 1000) : index++,
                CreateIndex: old?.CreateIndex ?? 1000,
                LockIndex: random() < 0.2 ? 1 : 0,
                Flags: random() < 0.1 ? '18446744073709551615' : random() < 0.1 ? '7' : '0',
              };
              if (random() < 0.2) entry.Session = sessions[Math.floor(random() * 2)]!;
              next.set(name, entry);
            }
          }
          live = next;
          const sorted = [...live.values()].sort((x, y) =>
            Buffer.compare(Buffer.from(x.Key), Buffer.from(y.Key)),
          );
          const f =
            formatting === 'compact' ? COMPACT : formats[Math.floor(random() * formats.length)]!;
          const r = random();
          const b = sorted.length === 0 && r < 0.5 ? undefined : body(sorted, f);
          prev = step(prev, b, prefix);
        }
      });
    }
  }
});

describe('cutBody refuses what JSON.parse refuses', () => {
  const entry = (key: string, value: string) =>
    `{"LockIndex":0,"Key":"${key}","Flags":0,"Value":"${Buffer.from(value).toString('base64')}","CreateIndex":1,"ModifyIndex":1}`;
  const [a, b, c] = [entry('a', '1'), entry('b', '2'), entry('c', '3')];
  for (const [title, text] of [
    ['an empty place between entries', `[${a},,${c}]`],
    ['a comma after the last entry', `[${a},${b},${c},]`],
    ['a comma before the first entry', `[,${a},${b},${c}]`],
  ] as const) {
    it(`throws on ${title}, as a whole read does`, () => {
      const before = readKvState(Buffer.from(`[${a},${b},${c}]`), '', undefined);
      expect(() => readKvState(Buffer.from(text), '', before)).toThrow(SyntaxError);
    });
  }
});
