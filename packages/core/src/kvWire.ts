/**
 * A KV answer's body, cut where it changed. Consul writes a KV listing as compact JSON, one
 * object per entry, each beginning `{"LockIndex":`. That text can only be structure: inside a
 * JSON string every quote is escaped, and a string's closing quote cannot be followed by a
 * letter. So the entries of a body can be found without parsing it, and between two answers
 * of one watch only the entries whose bytes differ need parsing: a change to one key of a
 * 10,000-key prefix parses one entry, not 10,000.
 *
 * Any body that is not in that shape (another agent's formatting, `?pretty`) is parsed whole.
 */

const MARK = Buffer.from('{"LockIndex":');
const OPEN = 0x5b; // [
const CLOSE = 0x5d; // ]
const COMMA = 0x2c; // ,
const CLOSE_BRACE = 0x7d; // }

/** Where each entry of `body` begins, or undefined when the body is not `count` entries in Consul's shape. */
export function entryStarts(body: Buffer, count: number): number[] | undefined {
  if (body[0] !== OPEN || body[body.length - 1] !== CLOSE) return undefined;
  const starts: number[] = [];
  for (let at = body.indexOf(MARK, 1); at !== -1; at = body.indexOf(MARK, at + MARK.length))
    starts.push(at);
  if (starts.length !== count || !compact(body, starts, 1, body.length - 1)) return undefined;
  return starts;
}

/**
 * Whether the entries beginning at `starts` fill `body` from `from` to `to` with nothing
 * between them but one comma: `{…},{…}`. Whitespace between entries would make an entry's
 * bytes depend on its neighbours, and the cut compares entries by their bytes.
 */
function compact(body: Buffer, starts: readonly number[], from: number, to: number): boolean {
  if (starts.length === 0) return from === to;
  if (starts[0] !== from || body[to - 1] !== CLOSE_BRACE) return false;
  for (let i = 1; i < starts.length; i++) {
    const at = starts[i]!;
    if (body[at - 1] !== COMMA || body[at - 2] !== CLOSE_BRACE) return false;
  }
  return true;
}

/** How a body differs from the one before it, entry by entry. */
export interface BodyCut {
  /** Leading entries of the previous body that are byte for byte in this one, at the same place. */
  head: number;
  /** Trailing entries of the previous body that are byte for byte in this one (shifted). */
  tail: number;
  /** The entries between, parsed. */
  middle: unknown[];
  /** Where each of `middle` begins in this body, and (last) where the last one ends. */
  middleBounds: number[];
  /** How far the tail moved: this body's length less the previous one's. */
  shift: number;
}

/** The byte after entry i's closing brace in a body whose entries begin at `starts`: a separator or the final `]`. */
export const entryEnd = (body: Buffer, starts: readonly number[], i: number): number =>
  i + 1 < starts.length ? starts[i + 1]! - 1 : body.length - 1;

/**
 * `next` cut against `prev` (whose entries begin at `starts`): the entries they share at
 * either end and the ones between, parsed. Undefined when the body cannot be cut safely;
 * then it is parsed whole.
 */
export function cutBody(
  prev: Buffer,
  starts: readonly number[],
  next: Buffer,
): BodyCut | undefined {
  const count = starts.length;
  if (next[0] !== OPEN || next[next.length - 1] !== CLOSE) return undefined;
  const shift = next.length - prev.length;
  const head = agreeing(count, (i, j) => sameAtStart(prev, starts, next, i, j));
  const tail = agreeing(count - head, (i, j) =>
    sameAtEnd(prev, starts, next, shift, count - j, count - i),
  );
  // The middle is what lies between the last head entry (or `[`) and the first tail entry's
  // separator (or the final `]`); the bytes on both sides must be those separators.
  const from = head > 0 ? entryEnd(prev, starts, head - 1) : 1;
  const to = tail > 0 ? starts[count - tail]! + shift - 1 : next.length - 1;
  if (tail > 0 && next[to] !== COMMA && !(to === 0 && head === 0)) return undefined;
  if (to < from - 1) return undefined;
  let text = to > from ? next.toString('utf8', from, to) : '';
  if (head > 0 && text !== '') {
    if (text.charCodeAt(0) !== COMMA) return undefined;
    text = text.slice(1);
  }
  let middle: unknown;
  try {
    middle = JSON.parse(`[${text}]`);
  } catch {
    return undefined;
  }
  if (!Array.isArray(middle)) return undefined;
  const middleBounds: number[] = [];
  const end = Math.max(from, to);
  for (let at = next.indexOf(MARK, from); at !== -1 && at < end; at = next.indexOf(MARK, at + 1))
    middleBounds.push(at);
  if (middleBounds.length !== middle.length) return undefined;
  // Nothing between the entries but commas; and an empty middle must be empty indeed (an
  // extra comma parses as no entry here but makes the whole body invalid JSON).
  const first = head > 0 ? from + 1 : 1;
  if (
    middle.length > 0
      ? !compact(next, middleBounds, first, to)
      : to !== (head > 0 || tail === 0 ? from : 0)
  )
    return undefined;
  middleBounds.push(end);
  return { head, tail, middle, middleBounds, shift };
}

/** Whether entries [i, j) of `prev` are in `next` at the same place (from the opening `[` for i = 0). */
function sameAtStart(
  prev: Buffer,
  starts: readonly number[],
  next: Buffer,
  i: number,
  j: number,
): boolean {
  const from = i === 0 ? 0 : starts[i]!;
  const to = entryEnd(prev, starts, j - 1);
  return to <= next.length && prev.compare(next, from, to, from, to) === 0;
}

/** Whether entries [i, j) of `prev` are in `next` moved by `shift` (to the final `]` for the last). */
function sameAtEnd(
  prev: Buffer,
  starts: readonly number[],
  next: Buffer,
  shift: number,
  i: number,
  j: number,
): boolean {
  const from = starts[i]!;
  const to = j < starts.length ? starts[j]! : prev.length;
  return from + shift >= 1 && prev.compare(next, from + shift, to + shift, from, to) === 0;
}

/**
 * How many of `count` entries agree, counted from one end: `same(i, j)` tells whether entries
 * i to j (exclusive) do, given that all before i do. Galloping, then halving: O(log n) calls,
 * and the bytes compared are about twice those that agree.
 */
function agreeing(count: number, same: (i: number, j: number) => boolean): number {
  let known = 0;
  let step = 1;
  while (known + step <= count && same(known, known + step)) {
    known += step;
    step *= 2;
  }
  let bound = Math.min(known + step, count + 1);
  while (bound - known > 1) {
    const mid = (known + bound) >>> 1;
    if (same(known, mid)) known = mid;
    else bound = mid;
  }
  return known;
}
