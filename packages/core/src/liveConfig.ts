import type { StandardSchemaV1 } from '@standard-schema/spec';
import { checkFormat } from './codec';
import { type ConfigLayer, LayerState, normaliseLayer, type TreeFormat } from './configLayer';
import { checkSchema, shareUnchanged } from './configSchema';
import {
  type ConfigObject,
  changedPaths,
  changedPathsUnder,
  deepEqual,
  deepFreeze,
  getPath,
} from './configTree';
import { channels } from './diagnostics';
import {
  ConfigValidationError,
  ConsulUnavailableError,
  type ConsulWatchError,
  DecodeError,
  HandlerError,
  InvalidInputError,
  isConnectionError,
  NotFoundError,
} from './errors';
import { LastKnownGoodFile } from './lastKnownGood';
import { type LayerMerge, mergeLayers } from './layerMerge';
import { ListenerSet } from './listenerSet';
import type { Logger } from './logger';
import { describeValue } from './messageText';
import { checkOptionNames } from './optionNames';
import { Readiness } from './readiness';
import { checkSettle, Settle, type SettleOptions } from './settle';
import type { WatchState, WatchStatus } from './sharedWatch';
import type { UnheardOutage } from './unheard';
import type { Watch } from './watch';
import type { KvChange, WatchChange, WatchSettings, WatchSpec } from './watchTypes';

export type { ConfigLayer, TreeFormat } from './configLayer';

export interface LiveConfigOptions<T = ConfigObject> extends WatchSettings {
  /** Layers in order; later ones win, key by key. */
  layers: ConfigLayer[];
  /** Tree values without a .json/.yaml extension: 'text' (default), 'json', 'yaml', or 'auto' (JSON when it parses, else text). */
  format?: TreeFormat;
  /** Standard Schema (zod, valibot, arktype…): an update that fails it is reported and the last valid config stays. */
  schema?: StandardSchemaV1<unknown, T>;
  /** Keep the last good config here and start on it when Consul cannot be reached. */
  lastKnownGoodFile?: string;
  /**
   * Apply changes together once they settle: when `minMs` passed with no further change, or
   * `maxMs` (default 4 × minMs) after the first change of a burst. The first config is not
   * held back. Default: each change at once.
   */
  settle?: SettleOptions;
}

export interface ConfigChangeEvent<T> {
  snapshot: T;
  previous: T | undefined;
  /** Dot paths of the leaves that changed. */
  paths: string[];
  source: 'consul' | 'cache';
}

type Listeners<T> = {
  change: ListenerSet<(event: ConfigChangeEvent<T>) => void>;
  /** Decode and validation failures each time; Consul failures once per spell, not per layer or retry. */
  error: ListenerSet<(error: ConsulWatchError) => void>;
  /** Every layer is answered again after a spell of Consul failures. */
  recovered: ListenerSet<(info: { downMs: number }) => void>;
  ready: ListenerSet<() => void>;
};

const LIVE_CONFIG_OPTIONS = [
  'layers',
  'format',
  'schema',
  'lastKnownGoodFile',
  'settle',
  'datacenter',
  'token',
  'consistency',
];

/** A layer before its first answer, for the first merge to start from. */
const NO_LAYER: ConfigObject = Object.freeze({});

const STATE_RANK: Record<WatchState, number> = {
  connected: 0,
  connecting: 1,
  unavailable: 2,
  failing: 3,
};

/**
 * A materialised, decoded view of one or more KV layers. The snapshot is immutable and
 * replaced whole on each change, so a reader holding it sees one consistent config.
 */
export class LiveConfig<T = ConfigObject> {
  private value: T | undefined;
  private sourceOf: 'consul' | 'cache' | 'none' = 'none';
  private updatedAt: number | undefined;
  private readonly layers: LayerState[];
  /**
   * The last merge of the layers' trees, so the next one rebuilds only what changed. It starts
   * as the merge of empty layers: the first config is built as a change from nothing, by the
   * same path as every later one.
   */
  private merge: LayerMerge;
  /** Top-level keys under which a layer changed since the last merge. */
  private readonly touched = new Set<string>();
  private readonly lastKnownGood: LastKnownGoodFile | undefined;
  private readonly watches: Watch<'key' | 'keyprefix'>[] = [];
  private readonly listeners: Listeners<T> = {
    change: new ListenerSet(),
    error: new ListenerSet(),
    recovered: new ListenerSet(),
    ready: new ListenerSet(),
  };
  /** The connection error last reported, while a spell of them lasts. */
  private spell: { code: string; since: number } | undefined;
  private readonly pathSubscribers = new ListenerSet<{
    path: string;
    callback: (value: unknown, previous: unknown) => void;
  }>();
  private readonly readiness = new Readiness<T>();
  private building: Promise<void> | undefined;
  private rebuildAgain = false;
  private triedCache = false;
  private lastError: ConsulWatchError | undefined;
  private closed = false;
  /** Absent layers already reported, by path: each is said once. */
  private readonly toldAbsent = new Set<string>();
  /** Why the config is held back: a required layer is absent. */
  private missing: NotFoundError | undefined;
  /** Holds changes after the first config until they settle, when `settle` is set. */
  private readonly settle: Settle | undefined;
  /** Per layer, the index of the last state its watch delivered. */
  private readonly delivered: bigint[];
  /** Per layer, the delivered index the last finished build took in (applied, or judged and refused). */
  private readonly taken: bigint[];
  private readonly catchUpWaiters = new Set<{
    layers: number[];
    index: bigint;
    resolve: () => void;
  }>();

  /** @internal use `client.liveConfig(options)` */
  constructor(
    watch: (
      spec: WatchSpec,
      onChange: (change: WatchChange<'key' | 'keyprefix'>) => void,
    ) => Watch<'key' | 'keyprefix'>,
    private readonly options: LiveConfigOptions<T>,
    private readonly logger: Logger,
    private readonly unheard?: UnheardOutage,
    /** Called once `close()` has released everything. */
    private readonly released?: () => void,
    /** Whether any key lies under a folder: for the hint when a key layer is absent. */
    private readonly folderHasKeys?: (prefix: string) => Promise<boolean>,
  ) {
    if (options === null || typeof options !== 'object' || Array.isArray(options))
      throw new InvalidInputError(
        `liveConfig needs an options object such as { layers: ['config/my-app/'] }, got ${describeValue(options)}`,
      );
    checkOptionNames(options, LIVE_CONFIG_OPTIONS, 'liveConfig');
    if (!Array.isArray(options.layers) || options.layers.length === 0) {
      throw new InvalidInputError(
        `liveConfig needs at least one layer, such as { layers: ['config/my-app/'] }; got ${options.layers === undefined ? 'no layers' : describeValue(options.layers)}`,
      );
    }
    const settings: WatchSettings = {};
    if (options.datacenter) settings.datacenter = options.datacenter;
    if (options.token) settings.token = options.token;
    if (options.consistency) settings.consistency = options.consistency;
    if (options.format !== undefined) checkFormat(options.format, 'liveConfig', ['auto']);
    const settle = checkSettle(options.settle, 'liveConfig settle');
    this.settle = settle && new Settle(settle, () => this.scheduleBuild());
    // Every layer is checked before any watch starts, so a bad one leaves nothing running.
    this.layers = options.layers.map(
      (l, i) => new LayerState(normaliseLayer(l, settings, i), options.format),
    );
    this.merge = { values: this.layers.map(() => NO_LAYER), merged: NO_LAYER };
    this.delivered = this.layers.map(() => -1n);
    this.taken = this.layers.map(() => -1n);
    this.lastKnownGood = options.lastKnownGoodFile
      ? new LastKnownGoodFile(options.lastKnownGoodFile, logger)
      : undefined;
    for (const layer of this.layers) {
      const at = this.watches.length;
      const w = watch(layer.layer.spec, (change) => {
        this.delivered[at] = BigInt(change.index);
        this.onLayerChange(layer, change as KvChange & { initial: boolean });
      });
      w.on('error', (error) => this.onWatchError(error));
      w.on('recovered', () => this.onWatchRecovered());
      this.watches.push(w);
    }
  }

  /** The current config, frozen; undefined until the first one is ready. */
  get snapshot(): T | undefined {
    return this.value;
  }

  /** Where the current config came from: Consul, the last-known-good file, or nothing yet. */
  get source(): 'consul' | 'cache' | 'none' {
    return this.sourceOf;
  }

  /**
   * Where the config stands with Consul: the worst of its layers' watches (`failing`, then
   * `unavailable`, `connecting`, `connected`), since when, and the last error. While it is not
   * `connected` the snapshot is the last good one.
   */
  get status(): WatchStatus {
    let worst = this.watches[0]!.status;
    for (const w of this.watches) {
      const s = w.status;
      if (STATE_RANK[s.state] > STATE_RANK[worst.state]) worst = s;
    }
    return { ...worst, lastError: this.lastError ?? worst.lastError };
  }

  /** The most stale of its watches, ms: 0 while all are connected. */
  get stalenessMs(): number {
    return Math.max(0, ...this.watches.map((w) => w.stalenessMs));
  }

  /** When the config last changed (or was loaded). */
  get lastUpdate(): Date | undefined {
    return this.updatedAt === undefined ? undefined : new Date(this.updatedAt);
  }

  /** Reads a dot path (`db.pool.size`); `fallback` when it is absent. */
  get<V = unknown>(path: string, fallback?: V): V {
    const value = getPath(this.value, path);
    return (value === undefined ? fallback : value) as V;
  }

  /** Calls `callback` whenever the decoded value at `path` changes; returns an unsubscribe function. */
  subscribe<V = unknown>(
    path: string,
    callback: (value: V | undefined, previous: V | undefined) => void,
  ): () => void {
    const entry = { path, callback: callback as (value: unknown, previous: unknown) => void };
    // Checked against the changed paths only: a change elsewhere never reaches this callback.
    this.pathSubscribers.add(entry);
    return () => this.pathSubscribers.delete(entry);
  }

  on<K extends keyof Listeners<T>>(
    event: K,
    listener: Listeners<T>[K] extends ListenerSet<infer L> ? L : never,
  ): this {
    (this.listeners[event] as ListenerSet<unknown>).add(listener);
    if (event === 'ready' && this.value !== undefined)
      queueMicrotask(() => (listener as () => void)());
    return this;
  }

  off<K extends keyof Listeners<T>>(
    event: K,
    listener: Listeners<T>[K] extends ListenerSet<infer L> ? L : never,
  ): this {
    (this.listeners[event] as ListenerSet<unknown>).delete(listener);
    return this;
  }

  /** Resolves with the first config (from Consul, or the last-known-good file when Consul is down). */
  ready(timeoutMs?: number): Promise<T> {
    if (
      timeoutMs !== undefined &&
      (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0)
    )
      return Promise.reject(
        new InvalidInputError(
          `liveConfig ready(timeoutMs): timeoutMs must be a number of milliseconds, 0 or more, got ${describeValue(timeoutMs)}; leave it out to wait without a bound`,
        ),
      );
    if (this.value === undefined && this.missing) return Promise.reject(this.missing);
    return this.readiness.wait(timeoutMs, () => {
      const layers = this.layers.map((l) => l.layer.path).join(', ');
      return `config from ${layers} not ready within ${timeoutMs} ms${this.lastError ? `: ${this.lastError.message}` : ''}`;
    });
  }

  /**
   * Undefined when the config has already taken in Consul's state at `index` for every layer
   * holding one of `keys` (or no layer holds them); else a promise that resolves once it has:
   * applied it, or judged it and kept the last good config (a bad value, a failed schema). A
   * watch of its own on those keys and this config's layers are separate blocking queries,
   * answered in either order; after this, the snapshot shows the watch's change. With
   * `settle`, that is once the burst has settled. Resolved by close().
   */
  caughtUp(index: string | bigint, keys: readonly string[]): Promise<void> | undefined {
    const at = BigInt(index);
    const layers: number[] = [];
    this.layers.forEach(({ layer }, i) => {
      const holds = (key: string) =>
        layer.kind === 'document' ? key === layer.path : key.startsWith(layer.path);
      if (this.taken[i]! < at && keys.some(holds)) layers.push(i);
    });
    if (layers.length === 0 || this.closed) return undefined;
    return new Promise((resolve) => this.catchUpWaiters.add({ layers, index: at, resolve }));
  }

  /** A build finished with the layers' states at `indexes`: wakes whoever waits for them. */
  private took(indexes: readonly bigint[]): void {
    indexes.forEach((index, i) => {
      if (index > this.taken[i]!) this.taken[i] = index;
    });
    for (const waiter of this.catchUpWaiters)
      if (waiter.layers.every((i) => this.taken[i]! >= waiter.index)) {
        this.catchUpWaiters.delete(waiter);
        waiter.resolve();
      }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.catchUpWaiters) waiter.resolve();
    this.catchUpWaiters.clear();
    this.settle?.cancel();
    this.readiness.stop(() => `config from ${this.layers.map((l) => l.layer.path).join(', ')}`);
    await Promise.all(this.watches.map((w) => w.stop()));
    await this.building;
    await this.lastKnownGood?.flushed();
    this.released?.();
  }

  private onLayerChange(layer: LayerState, change: KvChange & { initial: boolean }): void {
    layer.apply(change, (error) => this.report(error), this.touched);
    // Once there is a config, a burst of changes becomes one; the first one is never held.
    if (this.settle && this.value !== undefined) this.settle.change();
    else this.scheduleBuild();
  }

  /**
   * Builds, validates and commits the config. Without a schema that is done at once; a
   * schema may validate asynchronously, so with one builds are serial and coalesced while
   * one is running.
   */
  private scheduleBuild(): void {
    if (this.layers.some((l) => l.tree === undefined)) return;
    if (this.checkAbsentLayers()) return;
    if (!this.options.schema) {
      const keys = [...this.touched];
      const indexes = [...this.delivered];
      const candidate = this.mergeNow();
      this.install(candidate as T, candidate, 'consul', keys);
      this.took(indexes);
      return;
    }
    if (this.building) {
      this.rebuildAgain = true;
      return;
    }
    this.building = (async () => {
      do {
        this.rebuildAgain = false;
        const indexes = [...this.delivered];
        const candidate = this.mergeNow();
        const next = await this.validate(candidate, 'consul');
        if (next !== undefined) this.install(next, candidate, 'consul');
        this.took(indexes);
      } while (this.rebuildAgain && !this.closed);
    })().finally(() => {
      this.building = undefined;
    });
  }

  /**
   * Says once which layers Consul has nothing for (a layer may be optional, so a warning),
   * with a hint when a key layer has keys below it as a folder. An absent required layer holds
   * the config back: ready() fails with a NotFoundError and the last config stays. True while
   * a required layer is absent.
   */
  private checkAbsentLayers(): boolean {
    let holding = false;
    for (const layer of this.layers) {
      const { path, kind, required } = layer.layer;
      if (!layer.absent) {
        // Present again: a later absence is news, said again.
        this.toldAbsent.delete(path);
        if (this.missing?.key === path) this.missing = undefined;
        continue;
      }
      if (required) holding = true;
      if (this.toldAbsent.has(path)) continue;
      this.toldAbsent.add(path);
      const what =
        kind === 'document'
          ? `no key '${path}' in Consul`
          : `no key under the prefix '${path}' in Consul`;
      const folder = `${path}/`;
      const hint =
        kind === 'document' && this.folderHasKeys
          ? this.folderHasKeys(folder).then(
              (has) => (has ? `; did you mean the folder '${folder}'? It has keys` : ''),
              () => '',
            )
          : Promise.resolve('');
      void hint.then((extra) => {
        if (this.closed) return;
        if (required && layer.absent) {
          this.missing = new NotFoundError(
            `liveConfig: the required layer '${path}' is absent (${what})${extra}. The config waits for it: ready() fails until it is there${this.value === undefined ? '' : ', and the last config stays in use'}.`,
            path,
          );
          this.readiness.fail(this.missing);
          this.report(this.missing);
        } else if (!required) {
          this.notice(
            `liveConfig: layer '${path}' is absent (${what})${extra}. It adds nothing to the config; mark it { ${kind === 'document' ? 'key' : 'prefix'}: '${path}', required: true } to make ready() fail instead.`,
          );
        }
      });
    }
    return holding;
  }

  /** A warning for the logger, and for stderr when the client has no logger (as outages are). */
  private notice(message: string): void {
    this.logger.warn(message);
    this.unheard?.notice(message);
  }

  /** Merges the layers again, looking only under the top-level keys a layer changed. */
  private mergeNow(): ConfigObject {
    this.merge = mergeLayers(
      this.layers.map((l) => l.tree!),
      this.merge,
      this.touched,
    );
    this.touched.clear();
    return this.merge.merged as ConfigObject;
  }

  /** The schema's value for `candidate`, or undefined when it fails (reported; the last valid config stays). */
  private async validate(
    candidate: ConfigObject,
    source: 'consul' | 'cache',
  ): Promise<T | undefined> {
    const where =
      source === 'cache'
        ? (this.options.lastKnownGoodFile ?? '')
        : this.layers.map((l) => l.layer.path).join(', ');
    const outcome = await checkSchema(this.options.schema!, candidate, where);
    if (outcome instanceof ConfigValidationError) {
      this.report(outcome);
      return undefined;
    }
    // A schema may hand back new objects: keep the previous snapshot's where nothing changed.
    return shareUnchanged(this.value, outcome.value) as T;
  }

  /**
   * Makes `next` the snapshot and tells whoever listens what changed. `keys`: the top-level
   * keys the merge that made `next` looked under, when `next` is the merge itself.
   */
  private install(
    next: T,
    candidate: ConfigObject,
    source: 'consul' | 'cache',
    keys?: readonly string[],
    savedAt?: string,
  ): void {
    const previous = this.value;
    const firstFromConsul = source === 'consul' && this.sourceOf === 'cache';
    // With shared subtrees this looks only where something changed; after a merge of known
    // keys (the previous snapshot being the previous merge), only under those.
    const paths =
      previous === undefined
        ? []
        : keys !== undefined && this.sourceOf === 'consul'
          ? changedPathsUnder(previous as ConfigObject, next as ConfigObject, keys)
          : changedPaths(previous, next);
    if (previous !== undefined && paths.length === 0 && !firstFromConsul) return;
    this.value = deepFreeze(next);
    this.sourceOf = source;
    this.updatedAt = Date.now();
    if (channels.liveConfigUpdate.hasSubscribers)
      channels.liveConfigUpdate.publish({ outcome: 'applied', source, paths });
    if (source === 'cache') {
      this.logger.warn(
        `Consul is unreachable; starting on the last-known-good config from ${this.options.lastKnownGoodFile} saved at ${savedAt}`,
      );
    }
    if (firstFromConsul)
      this.logger.info('Consul is reachable again; config caught up from Consul');
    if (source === 'consul') this.lastKnownGood?.save(candidate);
    if (previous === undefined) {
      this.readiness.resolve(this.value);
      this.emit('ready', undefined);
    }
    // The first config is announced by 'ready'; 'change' is for what comes after.
    if (previous === undefined || paths.length === 0) return;
    for (const sub of this.pathSubscribers.snapshot()) {
      if (!paths.some((p) => related(p, sub.path))) continue;
      const before = getPath(previous, sub.path);
      const after = getPath(next, sub.path);
      if (deepEqual(before, after)) continue;
      this.safely(() => sub.callback(after, before));
    }
    this.emit('change', { snapshot: this.value, previous, paths, source });
  }

  private onWatchRecovered(): void {
    if (!this.spell || !this.watches.every((w) => w.status.state === 'connected')) return;
    const downMs = Date.now() - this.spell.since;
    this.spell = undefined;
    this.lastError = undefined;
    if (this.listeners.error.size === 0) this.unheard?.recovered(this.describe(), downMs);
    for (const listener of this.listeners.recovered.snapshot())
      this.safely(() => listener({ downMs }), false);
  }

  private onWatchError(error: ConsulWatchError): void {
    this.lastError = error;
    if (isConnectionError(error)) {
      // Every layer's watch reports the same outage: the config reports it once.
      if (this.spell?.code === error.code) return;
      this.spell = { code: error.code, since: this.spell?.since ?? Date.now() };
      if (this.listeners.error.size === 0) this.unheard?.failed(error);
    }
    this.report(error);
    if (
      this.value === undefined &&
      !this.triedCache &&
      error instanceof ConsulUnavailableError &&
      this.lastKnownGood
    ) {
      this.triedCache = true;
      void this.loadCache(this.lastKnownGood);
    }
  }

  private async loadCache(file: LastKnownGoodFile): Promise<void> {
    const saved = await file.load();
    if (!saved || this.value !== undefined || this.closed) return;
    const next = this.options.schema
      ? await this.validate(saved.config, 'cache')
      : (saved.config as T);
    if (next === undefined || this.value !== undefined || this.closed) return;
    this.install(next, saved.config, 'cache', undefined, saved.savedAt);
  }

  private describe(): string {
    return `config from ${this.layers.map((l) => l.layer.path).join(', ')}`;
  }

  private report(error: ConsulWatchError): void {
    if (
      channels.liveConfigUpdate.hasSubscribers &&
      (error instanceof DecodeError || error instanceof ConfigValidationError)
    )
      channels.liveConfigUpdate.publish({
        outcome: 'rejected',
        reason: error instanceof DecodeError ? 'decode' : 'schema',
        paths:
          error instanceof DecodeError
            ? [error.key]
            : error.issues.flatMap((i) => (i.path ? [i.path] : [])),
        error,
      });
    if (this.listeners.error.size === 0) this.logger.warn(error.message, { code: error.code });
    for (const listener of this.listeners.error.snapshot())
      this.safely(() => listener(error), false);
  }

  private emit(event: 'change' | 'ready', payload: unknown): void {
    for (const listener of (this.listeners[event] as ListenerSet<(p: unknown) => void>).snapshot())
      this.safely(() => listener(payload));
  }

  private safely(fn: () => unknown, reportFailure = true): void {
    try {
      const result = fn();
      if (result instanceof Promise)
        result.catch(
          (error: unknown) =>
            reportFailure &&
            this.report(
              new HandlerError(`config listener failed: ${(error as Error)?.message ?? error}`, {
                cause: error,
              }),
            ),
        );
    } catch (error) {
      if (reportFailure)
        this.report(
          new HandlerError(`config listener failed: ${(error as Error)?.message ?? error}`, {
            cause: error,
          }),
        );
    }
  }
}

/** One path is the other, or lies under it: a change at one can change the other's value. */
function related(changed: string, watched: string): boolean {
  if (watched === '' || changed === '' || changed === watched) return true;
  return changed.startsWith(`${watched}.`) || watched.startsWith(`${changed}.`);
}
