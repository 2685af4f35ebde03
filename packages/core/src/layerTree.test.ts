import { seededRandom } from '@consul-watch/dev-server/testing';
import { describe, expect, it } from 'vitest';
import { type ConfigObject, mergeDeep, setIn } from './configTree';
import { mergeLayers } from './layerMerge';
import { LayerTree } from './layerTree';

/** The tree the keys make when applied from scratch in Consul's (sorted) order. */
function fromScratch(keys: Map<string, unknown>): ConfigObject {
  const tree: ConfigObject = {};
  for (const key of [...keys.keys()].sort())
    setIn(tree, key.split('/'), structuredClone(keys.get(key)));
  return tree;
}

describe('LayerTree', () => {
  it('builds what applying the keys in sorted order builds, through any sequence of sets and deletes', () => {
    const random = seededRandom(20261201);
    const names = ['a', 'b', 'c', 'db', '__proto__'];
    const pick = () => names[Math.floor(random() * names.length)]!;
    const keys = new Map<string, unknown>();
    const tree = new LayerTree();
    for (let step = 0; step < 3_000; step++) {
      const key = Array.from({ length: 1 + Math.floor(random() * 3) }, pick).join('/');
      if (random() < 0.3) {
        keys.delete(key);
        tree.delete(key.split('/'));
      } else {
        const r = random();
        const value = r < 0.5 ? `v${step}` : r < 0.8 ? { [pick()]: step, x: { y: step } } : [step];
        keys.set(key, value);
        tree.set(key.split('/'), structuredClone(value));
      }
      expect(tree.tree).toEqual(fromScratch(keys));
    }
    // `__proto__` stays data, never the prototype.
    expect(Object.getPrototypeOf(tree.tree)).toBe(Object.prototype);
  });

  it('rebuilds only the path of a changed key: every other subtree keeps its identity', () => {
    const tree = new LayerTree();
    for (let i = 0; i < 100; i++) tree.set(['svc', `s${i}`, 'port'], i);
    tree.set(['db', 'host'], 'a');
    const before = tree.tree;
    tree.set(['svc', 's7', 'port'], 7_000);
    const after = tree.tree;
    expect(after).not.toBe(before);
    expect(after.db).toBe(before.db);
    const svc = after.svc as ConfigObject;
    const old = before.svc as ConfigObject;
    for (let i = 0; i < 100; i++) if (i !== 7) expect(svc[`s${i}`]).toBe(old[`s${i}`]);
    expect(svc.s7).toEqual({ port: 7_000 });
    expect(Object.isFrozen(after) && Object.isFrozen(svc) && Object.isFrozen(svc.s7)).toBe(true);
  });
});

describe('mergeLayers', () => {
  it('merges as mergeDeep over the layers, later ones winning', () => {
    const random = seededRandom(7);
    const rnd = (depth: number): ConfigObject => {
      const out: ConfigObject = {};
      for (const k of ['a', 'b', 'c']) {
        const r = random();
        if (r < 0.3) continue;
        out[k] = depth > 0 && r < 0.7 ? rnd(depth - 1) : r < 0.85 ? `${k}${depth}` : [depth];
      }
      return out;
    };
    let previous: ReturnType<typeof mergeLayers> | undefined;
    let layers = [rnd(3), rnd(3), rnd(3)];
    for (let step = 0; step < 500; step++) {
      layers = layers.map((l) => (random() < 0.4 ? rnd(3) : l));
      previous = mergeLayers(layers, previous);
      const expected = layers.reduce<ConfigObject>((acc, l) => mergeDeep(acc, l), {});
      expect(previous.merged).toEqual(expected);
    }
  });

  it('given the top-level keys the layers changed under, merges the same and keeps every other subtree', () => {
    const random = seededRandom(99);
    const names = ['a', 'b', 'c', 'd'];
    const pick = () => names[Math.floor(random() * names.length)]!;
    const keys = [
      new Map<string, unknown>(),
      new Map<string, unknown>(),
      new Map<string, unknown>(),
    ];
    const trees = keys.map(() => new LayerTree());
    let previous: ReturnType<typeof mergeLayers> | undefined;
    for (let step = 0; step < 1_500; step++) {
      const touched = new Set<string>();
      for (let n = 1 + Math.floor(random() * 2); n > 0; n--) {
        const layer = Math.floor(random() * trees.length);
        const path = Array.from({ length: 1 + Math.floor(random() * 3) }, pick);
        touched.add(path[0]!);
        if (random() < 0.3) {
          keys[layer]!.delete(path.join('/'));
          trees[layer]!.delete(path);
        } else {
          const value = random() < 0.7 ? `v${step}` : { [pick()]: step };
          keys[layer]!.set(path.join('/'), value);
          trees[layer]!.set(path, structuredClone(value));
        }
      }
      const before = previous?.merged as ConfigObject | undefined;
      previous = mergeLayers(
        trees.map((t) => t.tree),
        previous,
        previous ? touched : undefined,
      );
      const merged = previous.merged as ConfigObject;
      expect(merged).toEqual(
        keys.map(fromScratch).reduce<ConfigObject>((acc, l) => mergeDeep(acc, l), {}),
      );
      if (before)
        for (const key of Object.keys(merged))
          if (!touched.has(key)) expect(merged[key]).toBe(before[key]);
    }
  });

  it('merges anew when the number of layers changed since the merge it is given', () => {
    const first = mergeLayers([{ a: 1 }, { c: 1 }, { b: 1 }]);
    expect(mergeLayers([{ a: 1 }, { c: 2 }], first).merged).toEqual({ a: 1, c: 2 });
    const again = mergeLayers([{ a: 1 }, { c: 1 }, { b: 1 }]);
    const [a, c] = again.values as ConfigObject[];
    expect(mergeLayers([a!, c!], again, new Set(['c'])).merged).toEqual({ a: 1, c: 1 });
  });

  it('shares subtrees: one layer’s own object where only it has the path, the last result where no layer changed', () => {
    const shared = new LayerTree();
    const app = new LayerTree();
    shared.set(['log', 'level'], 'info');
    shared.set(['db', 'pool'], 5);
    app.set(['db', 'host'], 'a');
    app.set(['feature', 'beta'], true);
    const first = mergeLayers([shared.tree, app.tree]);
    const merged = first.merged as ConfigObject;
    expect(merged.log).toBe(shared.tree.log);
    expect(merged.feature).toBe(app.tree.feature);
    app.set(['feature', 'beta'], false);
    const second = mergeLayers([shared.tree, app.tree], first).merged as ConfigObject;
    expect(second.db).toBe(merged.db);
    expect(second.log).toBe(merged.log);
    expect(second.feature).toEqual({ beta: false });
  });
});
