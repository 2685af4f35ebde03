import type { ConfigLayer, ConsulWatch, Watch, WatchChange } from '@consul-watch/core';

/** How long a handler is held for the config at most, when its watch runs ahead of it. */
const MAX_HOLD_MS = 2_000;

interface Layer {
  /** A folder (ends in '/', or '' for everything) or one key. */
  path: string;
  folder: boolean;
  /** The index of the last state the config's query for this layer delivered. */
  index: bigint;
  waiters: Set<{ index: bigint; resolve: () => void }>;
}

/**
 * Lets an @OnConsulChange handler see its change in @ConsulValue properties. A handler's watch
 * and the config's layer watches are separate blocking queries, answered in either order; so
 * before a KV change reaches its handler, this waits until every config layer that holds one
 * of its keys has delivered a state at least as new (Consul's index: a write's index is above
 * every earlier one). It follows each layer's query with a watch of the same spec, which
 * shares the config's request: delivered after the config's own subscriber, so when it has
 * seen an index, the config has taken it in.
 */
export class ConfigCatchUp {
  private readonly layers: Layer[];
  private readonly watches: Watch[] = [];

  constructor(
    client: ConsulWatch,
    layers: readonly ConfigLayer[],
    /** A schema validates asynchronously: the snapshot is installed a few ticks later. */
    private readonly validates: boolean,
    private readonly warn: (message: string) => void,
  ) {
    this.layers = layers.map((layer) => {
      const { path, folder } = where(layer);
      const state: Layer = { path, folder, index: -1n, waiters: new Set() };
      const watch = client.watch(
        folder ? { type: 'keyprefix', prefix: path } : { type: 'key', key: path },
        (change) => this.delivered(state, BigInt(change.index)),
      );
      // The config reports this query's errors; this follower says nothing of its own.
      watch.on('error', () => {});
      this.watches.push(watch);
      return state;
    });
  }

  /** Undefined when the config already holds `change` (no await, no tick); else when it does. */
  caughtUp(change: WatchChange): Promise<void> | undefined {
    if (change.type !== 'key' && change.type !== 'keyprefix') return undefined;
    const index = BigInt(change.index);
    const keys = (change as WatchChange<'key' | 'keyprefix'>).changes.map((c) => c.key);
    const holding = this.layers.filter((l) =>
      keys.some((k) => (l.folder ? k.startsWith(l.path) : k === l.path)),
    );
    if (holding.length === 0) return undefined;
    const behind = holding.filter((l) => l.index < index);
    if (behind.length === 0) return this.validates ? settled() : undefined;
    return this.hold(behind, index, change);
  }

  private async hold(behind: Layer[], index: bigint, change: WatchChange): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waiters: { layer: Layer; waiter: { index: bigint; resolve: () => void } }[] = [];
    const all = Promise.all(
      behind.map(
        (layer) =>
          new Promise<void>((resolve) => {
            const waiter = { index, resolve };
            waiters.push({ layer, waiter });
            layer.waiters.add(waiter);
          }),
      ),
    );
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), MAX_HOLD_MS);
    });
    const outcome = await Promise.race([all, late]);
    clearTimeout(timer);
    for (const { layer, waiter } of waiters) layer.waiters.delete(waiter);
    if (outcome === 'late')
      this.warn(
        `the config from ${behind.map((l) => l.path).join(', ')} had not caught up with index ${change.index} after ${MAX_HOLD_MS} ms; the handler runs now and its @ConsulValue properties may show the state before this change`,
      );
    else if (this.validates) await settled();
  }

  private delivered(layer: Layer, index: bigint): void {
    layer.index = index;
    for (const waiter of [...layer.waiters])
      if (waiter.index <= index) {
        layer.waiters.delete(waiter);
        waiter.resolve();
      }
  }

  async close(): Promise<void> {
    for (const layer of this.layers) for (const w of layer.waiters) w.resolve();
    await Promise.all(this.watches.splice(0).map((w) => w.stop()));
  }
}

/** The key or folder a layer reads, as the live config reads it. */
function where(layer: ConfigLayer): { path: string; folder: boolean } {
  if (typeof layer === 'string')
    return { path: layer, folder: layer === '' || layer.endsWith('/') };
  if ('prefix' in layer)
    return {
      path: layer.prefix === '' || layer.prefix.endsWith('/') ? layer.prefix : `${layer.prefix}/`,
      folder: true,
    };
  return { path: layer.key, folder: false };
}

/** After the schema's validation of the state just taken in (its promise chain) has run. */
function settled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
