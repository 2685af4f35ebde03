import { assignOwn, type ConfigObject, isPlainObject, topKeysChanged } from './configTree';

/** The layers' trees a merge was made from, and what it made. */
export interface LayerMerge {
  values: readonly unknown[];
  merged: unknown;
}

/**
 * Merges layer trees, later ones winning key by key as `mergeDeep` over the list does, with
 * structural sharing: a subtree only one layer has is that layer's own (frozen) object, and
 * wherever no layer's subtree changed since `before`, the result is the subtree made then.
 * So the merge visits only the paths that changed, and identity tells a reader what did not.
 */
export function mergeLayers(
  trees: readonly ConfigObject[],
  before?: LayerMerge,
  /** The top-level keys under which any layer changed since `before`, when the caller knows. */
  touched?: ReadonlySet<string>,
): LayerMerge {
  // A merge of another number of layers says nothing about this one.
  const prev = before?.values.length === trees.length ? before : undefined;
  const merged = mergeAt(trees, prev?.values, prev?.merged, prev && touched) ?? Object.freeze({});
  return { values: trees, merged };
}

/**
 * Where the merge's objects begin: the values after the last one that is not a plain object
 * (which replaces everything before it) and is not undefined. -1 when there is none.
 */
function replacedAt(values: readonly unknown[]): number {
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i];
    if (v !== undefined && !isPlainObject(v)) return i;
  }
  return -1;
}

/** Whether value i is one of the merge's objects, given where they begin. */
const merging = (values: readonly unknown[], cut: number, i: number): boolean =>
  i > cut && values[i] !== undefined;

/** Each merging object's own value at `key` (undefined for the values that do not merge). */
function column(values: readonly unknown[], cut: number, key: string): unknown[] {
  const out = new Array<unknown>(values.length);
  for (let i = 0; i < values.length; i++)
    out[i] = merging(values, cut, i) ? own(values[i], key) : undefined;
  return out;
}

function sameItems(a: readonly unknown[], b: readonly unknown[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Plain loops rather than closures and callbacks: this runs on every change, mostly before
// V8 has optimised it, where each closure and callback costs.
function mergeAt(
  values: readonly unknown[],
  prevValues: readonly unknown[] | undefined,
  prevOut: unknown,
  touched?: ReadonlySet<string>,
): unknown {
  if (prevValues && sameItems(values, prevValues)) return prevOut;
  const cut = replacedAt(values);
  let objects = 0;
  let last = -1;
  for (let i = cut + 1; i < values.length; i++) {
    if (values[i] === undefined) continue;
    objects++;
    last = i;
  }
  if (objects === 0) return cut < 0 ? undefined : values[cut];
  if (objects === 1) return values[last];
  // The inputs the previous result was made from: a memo hit below is exact.
  const prevCut = prevValues ? replacedAt(prevValues) : -1;
  const previous = isPlainObject(prevOut) ? prevOut : undefined;
  if (previous && prevValues && sameMerging(values, cut, prevValues, prevCut))
    return patch(values, cut, prevValues, prevCut, previous, touched);
  const keys = new Set<string>();
  for (let i = cut + 1; i < values.length; i++)
    if (values[i] !== undefined) for (const key of Object.keys(values[i] as object)) keys.add(key);
  let same = previous !== undefined && Object.keys(previous).length === keys.size;
  const out: ConfigObject = {};
  for (const key of keys) {
    const before = previous && Object.hasOwn(previous, key) ? previous[key] : undefined;
    const now = column(values, cut, key);
    const was = prevValues ? column(prevValues, prevCut, key) : undefined;
    let child: unknown;
    // Most keys: no layer's subtree at this key changed, so the previous result stands.
    if (before !== undefined && was !== undefined && sameItems(now, was)) child = before;
    else {
      child = mergeAt(now, was, before);
      if (child !== before) same = false;
    }
    if (before === undefined) same = false;
    assignOwn(out, key, child);
  }
  return same ? previous : Object.freeze(out);
}

/** Whether the same positions hold the merging objects in both lists. */
function sameMerging(
  values: readonly unknown[],
  cut: number,
  prevValues: readonly unknown[],
  prevCut: number,
): boolean {
  for (let i = 0; i < values.length; i++)
    if (merging(values, cut, i) !== merging(prevValues, prevCut, i)) return false;
  return true;
}

/**
 * The same layers make the result as before and only some of them changed: the previous
 * result with just the keys those layers changed merged again, so the work is in proportion
 * to the change, not to the number of keys.
 */
function patch(
  values: readonly unknown[],
  cut: number,
  prevValues: readonly unknown[],
  prevCut: number,
  previous: ConfigObject,
  known: ReadonlySet<string> | undefined,
): ConfigObject {
  let touched = known;
  if (touched === undefined) {
    const found = new Set<string>();
    for (let i = cut + 1; i < values.length; i++)
      if (values[i] !== undefined)
        topKeysChanged(prevValues[i] as ConfigObject, values[i] as ConfigObject, found);
    touched = found;
  }
  let out: ConfigObject | undefined;
  for (const key of touched) {
    const was = Object.hasOwn(previous, key) ? previous[key] : undefined;
    const child = mergeAt(column(values, cut, key), column(prevValues, prevCut, key), was);
    if (child === was) continue;
    out ??= { ...previous };
    if (child === undefined) delete out[key];
    else assignOwn(out, key, child);
  }
  return out ? Object.freeze(out) : previous;
}

const own = (value: unknown, key: string): unknown =>
  Object.hasOwn(value as object, key) ? (value as ConfigObject)[key] : undefined;
