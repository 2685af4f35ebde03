import { assignOwn, type ConfigObject, deepFreeze, isPlainObject, mergeDeep } from './configTree';

interface Node {
  /** The decoded value of the key that ends here, when `has`. */
  value: unknown;
  has: boolean;
  children: Map<string, Node> | undefined;
  /** The frozen subtree this node builds; reused until something under it changes. */
  built: unknown;
}

const EMPTY: ConfigObject = Object.freeze({});

/**
 * A tree layer's config (`config/app/db/host` → `db.host`), kept as a trie of key segments.
 * Each node caches the frozen subtree it builds, so a changed key rebuilds only the nodes on
 * its own path, and every other subtree keeps its identity from one version to the next.
 *
 * Where keys overlap, a key's object value (a JSON/YAML document) merges with the keys
 * below it, those below winning; a scalar in the way gives way to the keys below it. That
 * is what applying the keys in Consul's (sorted) order gives.
 */
export class LayerTree {
  private readonly root: Node = { value: undefined, has: false, children: undefined, built: EMPTY };

  /** The layer's config now: frozen, sharing every unchanged subtree with the one before. */
  get tree(): ConfigObject {
    return this.root.built as ConfigObject;
  }

  /** Sets the value at `segments` (at least one); the value is frozen and kept as it is. */
  set(segments: readonly string[], value: unknown): void {
    const path: Node[] = [this.root];
    let node = this.root;
    for (const segment of segments) {
      node.children ??= new Map();
      let child = node.children.get(segment);
      if (!child) {
        child = { value: undefined, has: false, children: undefined, built: undefined };
        node.children.set(segment, child);
      }
      path.push(child);
      node = child;
    }
    node.value = deepFreeze(value);
    node.has = true;
    this.rebuild(path, segments);
  }

  /** Removes the value at `segments`; nodes left with nothing are pruned. */
  delete(segments: readonly string[]): void {
    const path: Node[] = [this.root];
    let node = this.root;
    for (const segment of segments) {
      const child = node.children?.get(segment);
      if (!child) return;
      path.push(child);
      node = child;
    }
    if (!node.has) return;
    node.value = undefined;
    node.has = false;
    for (let i = path.length - 1; i > 0; i--) {
      const n = path[i]!;
      if (n.has || (n.children && n.children.size > 0)) break;
      path[i - 1]!.children!.delete(segments[i - 1]!);
    }
    this.rebuild(path, segments);
  }

  /** Rebuilds the nodes on one path, deepest first; each copies its old subtree and replaces one key. */
  private rebuild(path: Node[], segments: readonly string[]): void {
    for (let i = path.length - 1; i >= 0; i--) {
      const node = path[i]!;
      const parent = path[i - 1];
      // A pruned node (no longer its parent's child) needs no build of its own.
      if (parent && parent.children?.get(segments[i - 1]!) !== node) continue;
      const changed = i < path.length - 1 ? segments[i] : undefined;
      node.built = build(node, changed);
    }
    if (this.root.built === undefined) this.root.built = EMPTY;
  }
}

/** What a node stands for: its own value, its children's subtrees, or both merged. */
function build(node: Node, changed: string | undefined): unknown {
  if (!node.children || node.children.size === 0) return node.has ? node.value : undefined;
  const base = node.has && isPlainObject(node.value) ? node.value : undefined;
  const old = node.built;
  // One child changed and the node had a subtree of children before: copy it, replace one key.
  if (changed !== undefined && isPlainObject(old) && old !== base) {
    const out: ConfigObject = { ...old };
    const child = node.children.get(changed);
    if (child?.built !== undefined) assignOwn(out, changed, over(base, changed, child.built));
    else if (base && Object.hasOwn(base, changed)) assignOwn(out, changed, base[changed]);
    else delete out[changed];
    return Object.freeze(out);
  }
  const out: ConfigObject = base ? { ...base } : {};
  for (const [segment, child] of node.children)
    if (child.built !== undefined) assignOwn(out, segment, over(base, segment, child.built));
  return Object.freeze(out);
}

/** A child's subtree over what the node's own document has at that key (deep, the child winning). */
function over(base: ConfigObject | undefined, key: string, value: unknown): unknown {
  const below = base && Object.hasOwn(base, key) ? base[key] : undefined;
  return isPlainObject(below) && isPlainObject(value) ? deepFreeze(mergeDeep(below, value)) : value;
}
