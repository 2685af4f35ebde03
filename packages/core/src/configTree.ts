/** A plain JSON-like object: what config snapshots are made of. */
export type ConfigObject = { [key: string]: unknown };

export const isPlainObject = (value: unknown): value is ConfigObject =>
  value !== null &&
  typeof value === 'object' &&
  !Array.isArray(value) &&
  Object.getPrototypeOf(value) === Object.prototype;

/**
 * Sets an own property. A `__proto__` key from a JSON or YAML document (or a KV path) is
 * kept as data: plain assignment would make it the object's prototype.
 */
export function assignOwn(target: ConfigObject, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  else target[key] = value;
}

/** An own property's value; never something inherited (`constructor`, `__proto__`). */
const own = (target: ConfigObject, key: string): unknown =>
  Object.hasOwn(target, key) ? target[key] : undefined;

/** Sets `value` at `segments` inside `target`, creating objects on the way; a scalar in the way is replaced. */
export function setIn(target: ConfigObject, segments: string[], value: unknown): void {
  let at = target;
  for (let i = 0; i < segments.length - 1; i++) {
    const segment = segments[i]!;
    const next = own(at, segment);
    if (isPlainObject(next)) at = next;
    else {
      const created: ConfigObject = {};
      assignOwn(at, segment, created);
      at = created;
    }
  }
  const last = segments[segments.length - 1]!;
  const existing = own(at, last);
  assignOwn(
    at,
    last,
    isPlainObject(existing) && isPlainObject(value) ? mergeDeep(existing, value) : value,
  );
}

/** Later wins: objects merge key by key, everything else (arrays included) is replaced. */
export function mergeDeep(base: ConfigObject, over: ConfigObject): ConfigObject {
  const out: ConfigObject = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const existing = own(out, key);
    assignOwn(
      out,
      key,
      isPlainObject(existing) && isPlainObject(value) ? mergeDeep(existing, value) : value,
    );
  }
  return out;
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}

/** Reads `a.b.c` (`a.0.c` inside arrays); undefined when any step is missing. */
export function getPath(root: unknown, path: string): unknown {
  if (path === '') return root;
  let at = root;
  for (const segment of path.split('.')) {
    if (at === null || typeof at !== 'object') return undefined;
    at = own(at as ConfigObject, segment);
  }
  return at;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (a instanceof Date || b instanceof Date)
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const key of ka) {
    if (!Object.hasOwn(b, key) || !deepEqual((a as ConfigObject)[key], (b as ConfigObject)[key]))
      return false;
  }
  return true;
}

/**
 * Dot paths of every leaf that differs between two trees (a changed object lists its changed
 * leaves). Identical objects are skipped at once, so between snapshots that share unchanged
 * subtrees it visits only the changed paths.
 */
export function changedPaths(a: unknown, b: unknown, base = '', out: string[] = []): string[] {
  if (a === b) return out;
  if (!isPlainObject(a) || !isPlainObject(b)) {
    if (!deepEqual(a, b)) out.push(base);
    return out;
  }
  for (const key of Object.keys(a)) {
    const x = own(a, key);
    const y = own(b, key);
    if (x !== y) changedPaths(x, y, base ? `${base}.${key}` : key, out);
  }
  for (const key of Object.keys(b)) {
    if (!Object.hasOwn(a, key))
      changedPaths(undefined, own(b, key), base ? `${base}.${key}` : key, out);
  }
  return out;
}

/**
 * `changedPaths` of two trees that can differ only under the top-level `keys` (a merge
 * reported which): the rest is not even looked at.
 */
export function changedPathsUnder(
  a: ConfigObject,
  b: ConfigObject,
  keys: Iterable<string>,
): string[] {
  const out: string[] = [];
  for (const key of keys) changedPaths(own(a, key), own(b, key), key, out);
  return out;
}

/** Adds to `into` the top-level keys whose values differ (by identity) between two objects. */
export function topKeysChanged(a: ConfigObject, b: ConfigObject, into: Set<string>): void {
  if (a === b) return;
  for (const key of Object.keys(a)) if (own(a, key) !== own(b, key)) into.add(key);
  for (const key of Object.keys(b)) if (!Object.hasOwn(a, key)) into.add(key);
}

/** Only the given dot paths of `root`, as a nested object: what may be shown outside. */
export function pickPaths(root: unknown, paths: readonly string[]): ConfigObject {
  const out: ConfigObject = {};
  for (const path of paths) {
    const value = getPath(root, path);
    if (value !== undefined) setIn(out, path.split('.'), value);
  }
  return out;
}
