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
  const merged = mergeAt(trees, before?.values, before?.merged, touched) ?? Object.freeze({});
  return { values: trees, merged };
}

/** Which of `values` make the result: the plain objects after the last value that is not one. */
function contributors(values: readonly unknown[]): { run: number[]; replaced: unknown } {
  let run: number[] = [];
  let replaced: unknown;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === undefined) continue;
    if (isPlainObject(v)) run.push(i);
    else {
      run = [];
      replaced = v;
    }
  }
  return { run, replaced };
}

function mergeAt(
  values: readonly unknown[],
  prevValues: readonly unknown[] | undefined,
  prevOut: unknown,
  touched?: ReadonlySet<string>,
): unknown {
  if (prevValues && values.every((v, i) => v === prevValues[i])) return prevOut;
  const { run, replaced } = contributors(values);
  if (run.length === 0) return replaced;
  if (run.length === 1) return values[run[0]!];
  // The inputs the previous result was made from, per position: a memo hit below is exact.
  const inRun = values.map((_, i) => run.includes(i));
  const prevRun = prevValues ? contributors(prevValues).run : [];
  const inPrevRun = values.map((_, i) => prevRun.includes(i));
  const input = (i: number, key: string) => (inRun[i] ? own(values[i], key) : undefined);
  const inputBefore = (i: number, key: string) =>
    inPrevRun[i] ? own(prevValues![i], key) : undefined;
  const previous = isPlainObject(prevOut) ? prevOut : undefined;
  if (
    previous &&
    prevValues &&
    run.length === prevRun.length &&
    run.every((i, n) => i === prevRun[n])
  )
    return patch(values, prevValues, run, previous, input, inputBefore, touched);
  const keys = new Set<string>();
  for (const i of run) for (const key of Object.keys(values[i] as ConfigObject)) keys.add(key);
  let same = previous !== undefined && Object.keys(previous).length === keys.size;
  const out: ConfigObject = {};
  for (const key of keys) {
    const before = previous && Object.hasOwn(previous, key) ? previous[key] : undefined;
    let child: unknown;
    // Most keys: no layer's subtree at this key changed, so the previous result stands.
    let untouched = before !== undefined && prevValues !== undefined;
    for (let i = 0; untouched && i < values.length; i++)
      untouched = input(i, key) === inputBefore(i, key);
    if (untouched) child = before;
    else {
      const at = values.map((_, i) => input(i, key));
      const was = prevValues?.map((_, i) => inputBefore(i, key));
      child = mergeAt(at, was, before);
      if (child !== before) same = false;
    }
    if (before === undefined) same = false;
    assignOwn(out, key, child);
  }
  return same ? previous : Object.freeze(out);
}

/**
 * The same layers make the result as before and only some of them changed: the previous
 * result with just the keys those layers changed merged again, so the work is in proportion
 * to the change, not to the number of keys.
 */
function patch(
  values: readonly unknown[],
  prevValues: readonly unknown[],
  run: readonly number[],
  previous: ConfigObject,
  input: (i: number, key: string) => unknown,
  inputBefore: (i: number, key: string) => unknown,
  known: ReadonlySet<string> | undefined,
): ConfigObject {
  let touched = known;
  if (touched === undefined) {
    const found = new Set<string>();
    for (const i of run)
      topKeysChanged(prevValues[i] as ConfigObject, values[i] as ConfigObject, found);
    touched = found;
  }
  let out: ConfigObject | undefined;
  for (const key of touched) {
    const was = Object.hasOwn(previous, key) ? previous[key] : undefined;
    const child = mergeAt(
      values.map((_, i) => input(i, key)),
      prevValues.map((_, i) => inputBefore(i, key)),
      was,
    );
    if (child === was) continue;
    out ??= { ...previous };
    if (child === undefined) delete out[key];
    else assignOwn(out, key, child);
  }
  return out ? Object.freeze(out) : previous;
}

const own = (value: unknown, key: string): unknown =>
  Object.hasOwn(value as object, key) ? (value as ConfigObject)[key] : undefined;
