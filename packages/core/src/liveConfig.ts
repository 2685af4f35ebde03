import { readFile } from 'node:fs/promises';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { writeFileAtomic } from './atomicFile';
import { checkFormat, decodeValue, formatOfKey, type ValueFormat } from './codec';
import {
  type ConfigObject,
  changedPaths,
  deepEqual,
  deepFreeze,
  getPath,
  isPlainObject,
  mergeDeep,
  setIn,
} from './configTree';
import {
  ConfigValidationError,
  ConsulRequestError,
  ConsulUnavailableError,
  type ConsulWatchError,
  DecodeError,
  HandlerError,
  InvalidInputError,
  PermissionDeniedError,
} from './errors';
import { validateKey } from './keys';
import type { KvEntry } from './kv';
import type { Logger } from './logger';
import { Readiness } from './readiness';
import type { WatchState, WatchStatus } from './sharedWatch';
import type { Watch } from './watch';
import type { KvChange, WatchChange, WatchSettings, WatchSpec } from './watchTypes';

/** How values of keys without a known extension decode in tree layers. */
export type TreeFormat = ValueFormat | 'auto';

/**
 * A layer of config: a tree of keys under a prefix (`'config/my-app/'`, ends with '/') or
 * one key holding a whole JSON/YAML document (`'config/my-app.yaml'`).
 */
export type ConfigLayer =
  | string
  | { prefix: string; format?: TreeFormat }
  | { key: string; format?: ValueFormat };

export interface LiveConfigOptions<T = ConfigObject> extends WatchSettings {
  /** Layers in order; later ones win, key by key. */
  layers: ConfigLayer[];
  /** Tree values without a .json/.yaml extension: 'text' (default), 'json', 'yaml', or 'auto' (JSON when it parses, else text). */
  format?: TreeFormat;
  /** Standard Schema (zod, valibot, arktype…): an update that fails it is reported and the last valid config stays. */
  schema?: StandardSchemaV1<unknown, T>;
  /** Keep the last good config here and start on it when Consul cannot be reached. */
  lastKnownGoodFile?: string;
}

export interface ConfigChangeEvent<T> {
  snapshot: T;
  previous: T | undefined;
  /** Dot paths of the leaves that changed. */
  paths: string[];
  source: 'consul' | 'cache';
}

type Listeners<T> = {
  change: Set<(event: ConfigChangeEvent<T>) => void>;
  /** Decode and validation failures each time; Consul failures once per spell, not per layer or retry. */
  error: Set<(error: ConsulWatchError) => void>;
  /** Every layer is answered again after a spell of Consul failures. */
  recovered: Set<(info: { downMs: number }) => void>;
  ready: Set<() => void>;
};

/** Errors of reaching Consul, which come and go in spells; the rest are about the data. */
const isConnectionError = (error: ConsulWatchError) =>
  error instanceof ConsulUnavailableError ||
  error instanceof PermissionDeniedError ||
  error instanceof ConsulRequestError;

const STATE_RANK: Record<WatchState, number> = {
  connected: 0,
  connecting: 1,
  unavailable: 2,
  failing: 3,
};

interface NormalLayer {
  spec: WatchSpec;
  kind: 'tree' | 'document';
  /** For trees: the prefix relative to the connection prefix; for documents: the key. */
  path: string;
  format: TreeFormat | ValueFormat | undefined;
  /** Decoded values by key, kept when a later value fails to decode. */
  decoded: Map<string, { modifyIndex: number; value: unknown }>;
  tree: ConfigObject | undefined;
}

const LKG_VERSION = 1;

function normaliseLayer(layer: ConfigLayer, settings: WatchSettings, i: number): NormalLayer {
  const base = { decoded: new Map(), tree: undefined };
  const shape = typeof layer === 'string' || (layer !== null && typeof layer === 'object');
  if (!shape) {
    throw new InvalidInputError(
      `liveConfig layer ${i} must be a prefix ('app/'), a key ('app.json'), { prefix, format? } or { key, format? }; got ${layer === null ? 'null' : typeof layer}`,
    );
  }
  if (typeof layer === 'string')
    validateKey(layer, layer.endsWith('/') || layer === '' ? 'prefix' : 'key');
  else if ('prefix' in layer) validateKey(layer.prefix, 'prefix');
  else validateKey(layer.key, 'key');
  if (typeof layer !== 'string' && layer.format !== undefined)
    checkFormat(layer.format, `liveConfig layer ${i}`, ['auto']);
  if (typeof layer === 'string') {
    return layer.endsWith('/') || layer === ''
      ? {
          ...base,
          kind: 'tree',
          path: layer,
          format: undefined,
          spec: { ...settings, type: 'keyprefix', prefix: layer },
        }
      : {
          ...base,
          kind: 'document',
          path: layer,
          format: undefined,
          spec: { ...settings, type: 'key', key: layer },
        };
  }
  if ('prefix' in layer)
    return {
      ...base,
      kind: 'tree',
      path: layer.prefix,
      format: layer.format,
      spec: { ...settings, type: 'keyprefix', prefix: layer.prefix },
    };
  return {
    ...base,
    kind: 'document',
    path: layer.key,
    format: layer.format,
    spec: { ...settings, type: 'key', key: layer.key },
  };
}

/** A tree key's place in the config: `app/db/host` under `app/` is `db.host`; `db.json` is `db`. */
function treeSegments(key: string, prefix: string): string[] {
  return key
    .slice(prefix.length)
    .replace(/\.(json|ya?ml)$/i, '')
    .split('/')
    .filter((s) => s !== '');
}

/**
 * A materialised, decoded view of one or more KV layers. The snapshot is immutable and
 * replaced whole on each change, so a reader holding it sees one consistent config.
 */
export class LiveConfig<T = ConfigObject> {
  private value: T | undefined;
  private sourceOf: 'consul' | 'cache' | 'none' = 'none';
  private updatedAt: Date | undefined;
  private readonly layers: NormalLayer[];
  private readonly watches: Watch<'key' | 'keyprefix'>[] = [];
  private readonly listeners: Listeners<T> = {
    change: new Set(),
    error: new Set(),
    recovered: new Set(),
    ready: new Set(),
  };
  /** The connection error last reported, while a spell of them lasts. */
  private spell: { code: string; since: number } | undefined;
  private readonly pathSubscribers = new Set<{
    path: string;
    callback: (value: unknown, previous: unknown) => void;
  }>();
  private readonly readiness = new Readiness<T>();
  private building: Promise<void> | undefined;
  private rebuildAgain = false;
  private saving: Promise<void> | undefined;
  private pendingSave: ConfigObject | undefined;
  private triedCache = false;
  private lastError: ConsulWatchError | undefined;
  private closed = false;

  /** @internal use `client.liveConfig(options)` */
  constructor(
    watch: (
      spec: WatchSpec,
      onChange: (change: WatchChange<'key' | 'keyprefix'>) => void,
    ) => Watch<'key' | 'keyprefix'>,
    private readonly options: LiveConfigOptions<T>,
    private readonly logger: Logger,
  ) {
    if (!Array.isArray(options.layers) || options.layers.length === 0) {
      throw new TypeError(
        'liveConfig needs at least one layer, such as { layers: ["config/my-app/"] }',
      );
    }
    const settings: WatchSettings = {};
    if (options.datacenter) settings.datacenter = options.datacenter;
    if (options.token) settings.token = options.token;
    if (options.consistency) settings.consistency = options.consistency;
    if (options.format !== undefined) checkFormat(options.format, 'liveConfig', ['auto']);
    // Every layer is checked before any watch starts, so a bad one leaves nothing running.
    this.layers = options.layers.map((l, i) => normaliseLayer(l, settings, i));
    for (const layer of this.layers) {
      const w = watch(layer.spec, (change) =>
        this.onLayerChange(layer, change as KvChange & { initial: boolean }),
      );
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

  /** When the config last changed (or was loaded). */
  get lastUpdate(): Date | undefined {
    return this.updatedAt;
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
    this.pathSubscribers.add(entry);
    return () => this.pathSubscribers.delete(entry);
  }

  on<K extends keyof Listeners<T>>(
    event: K,
    listener: Listeners<T>[K] extends Set<infer L> ? L : never,
  ): this {
    (this.listeners[event] as Set<unknown>).add(listener);
    if (event === 'ready' && this.value !== undefined)
      queueMicrotask(() => (listener as () => void)());
    return this;
  }

  off<K extends keyof Listeners<T>>(
    event: K,
    listener: Listeners<T>[K] extends Set<infer L> ? L : never,
  ): this {
    (this.listeners[event] as Set<unknown>).delete(listener);
    return this;
  }

  /** Resolves with the first config (from Consul, or the last-known-good file when Consul is down). */
  ready(timeoutMs?: number): Promise<T> {
    return this.readiness.wait(timeoutMs, () => {
      const layers = this.layers.map((l) => l.path).join(', ');
      return `config from ${layers} not ready within ${timeoutMs} ms${this.lastError ? `: ${this.lastError.message}` : ''}`;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.readiness.stop(() => `config from ${this.layers.map((l) => l.path).join(', ')}`);
    await Promise.all(this.watches.map((w) => w.stop()));
    await this.building;
    await this.saving;
  }

  private onLayerChange(layer: NormalLayer, change: KvChange & { initial: boolean }): void {
    for (const c of change.changes) {
      if (c.op === 'delete') layer.decoded.delete(c.key);
      else this.decodeEntry(layer, c.entry);
    }
    layer.tree = this.layerTree(layer);
    this.scheduleBuild();
  }

  private decodeEntry(layer: NormalLayer, entry: KvEntry): void {
    if (layer.kind === 'tree' && (entry.key.endsWith('/') || entry.key === layer.path)) return;
    const byExtension = formatOfKey(entry.key);
    const format =
      byExtension !== 'text'
        ? byExtension
        : (layer.format ?? this.options.format ?? (layer.kind === 'document' ? 'json' : 'text'));
    try {
      let value: unknown;
      if (format === 'auto') {
        try {
          value = JSON.parse(entry.value.toString('utf8'));
        } catch {
          value = entry.value.toString('utf8');
        }
      } else value = decodeValue(entry.value, format, entry.key);
      if (layer.kind === 'document' && !isPlainObject(value)) {
        throw new DecodeError(
          `Key ${JSON.stringify(entry.key)} must hold a ${format.toUpperCase()} object to be a config layer; it holds ${Array.isArray(value) ? 'an array' : typeof value}. The last good config stays in use.`,
          entry.key,
        );
      }
      layer.decoded.set(entry.key, { modifyIndex: entry.modifyIndex, value });
    } catch (error) {
      // The key keeps its last good value (if it had one); the error names it.
      this.report(error as ConsulWatchError);
    }
  }

  private layerTree(layer: NormalLayer): ConfigObject {
    const tree: ConfigObject = {};
    if (layer.kind === 'document') {
      const doc = layer.decoded.get(layer.path)?.value;
      return isPlainObject(doc) ? doc : tree;
    }
    for (const [key, { value }] of layer.decoded) {
      const segments = treeSegments(key, layer.path);
      if (segments.length === 0) continue;
      setIn(tree, segments, value);
    }
    return tree;
  }

  /** Builds, validates and commits the config; serial, and coalesced while one is running. */
  private scheduleBuild(): void {
    if (this.layers.some((l) => l.tree === undefined)) return;
    if (this.building) {
      this.rebuildAgain = true;
      return;
    }
    this.building = (async () => {
      do {
        this.rebuildAgain = false;
        const merged = this.layers.reduce<ConfigObject>((acc, l) => mergeDeep(acc, l.tree!), {});
        await this.commit(merged, 'consul');
      } while (this.rebuildAgain && !this.closed);
    })().finally(() => {
      this.building = undefined;
    });
  }

  private async commit(
    candidate: ConfigObject,
    source: 'consul' | 'cache',
    savedAt?: string,
  ): Promise<boolean> {
    let next: T;
    if (this.options.schema) {
      const where =
        source === 'cache'
          ? this.options.lastKnownGoodFile
          : this.layers.map((l) => l.path).join(', ');
      let result: StandardSchemaV1.Result<T>;
      try {
        result = await this.options.schema['~standard'].validate(candidate);
      } catch (error) {
        this.report(
          new ConfigValidationError(
            `Config from ${where}: the schema itself failed (${(error as Error)?.message ?? String(error)}); the last valid config stays in use.`,
            [],
          ),
        );
        return false;
      }
      if (result.issues) {
        const issues = result.issues.map((i) => ({
          message: i.message,
          ...(i.path
            ? { path: i.path.map((p) => String(typeof p === 'object' ? p.key : p)).join('.') }
            : {}),
        }));
        const list = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
        this.report(
          new ConfigValidationError(
            `Config from ${where} fails its schema (${list}); the last valid config stays in use.`,
            issues,
          ),
        );
        return false;
      }
      next = result.value;
    } else next = candidate as T;
    const previous = this.value;
    const firstFromConsul = source === 'consul' && this.sourceOf === 'cache';
    if (previous !== undefined && deepEqual(previous, next) && !firstFromConsul) return true;
    this.value = deepFreeze(next);
    this.sourceOf = source;
    this.updatedAt = new Date();
    if (source === 'cache') {
      this.logger.warn(
        `Consul is unreachable; starting on the last-known-good config from ${this.options.lastKnownGoodFile} saved at ${savedAt}`,
      );
    }
    if (firstFromConsul)
      this.logger.info('Consul is reachable again; config caught up from Consul');
    if (source === 'consul' && this.options.lastKnownGoodFile) this.save(candidate);
    const paths = previous === undefined ? [] : changedPaths(previous, next);
    if (previous === undefined) {
      this.readiness.resolve(this.value);
      this.emit('ready', undefined);
    }
    // The first config is announced by 'ready'; 'change' is for what comes after.
    if (previous === undefined || paths.length === 0) return true;
    for (const sub of [...this.pathSubscribers]) {
      const before = getPath(previous, sub.path);
      const after = getPath(next, sub.path);
      if (deepEqual(before, after)) continue;
      this.safely(() => sub.callback(after, before));
    }
    this.emit('change', { snapshot: this.value, previous, paths, source });
    return true;
  }

  private onWatchRecovered(): void {
    if (!this.spell || !this.watches.every((w) => w.status.state === 'connected')) return;
    const downMs = Date.now() - this.spell.since;
    this.spell = undefined;
    this.lastError = undefined;
    for (const listener of [...this.listeners.recovered])
      this.safely(() => listener({ downMs }), false);
  }

  private onWatchError(error: ConsulWatchError): void {
    this.lastError = error;
    if (isConnectionError(error)) {
      // Every layer's watch reports the same outage: the config reports it once.
      if (this.spell?.code === error.code) return;
      this.spell = { code: error.code, since: this.spell?.since ?? Date.now() };
    }
    this.report(error);
    if (
      this.value === undefined &&
      !this.triedCache &&
      error instanceof ConsulUnavailableError &&
      this.options.lastKnownGoodFile
    ) {
      this.triedCache = true;
      void this.loadCache(this.options.lastKnownGoodFile);
    }
  }

  private async loadCache(file: string): Promise<void> {
    let saved: { version: number; savedAt: string; config: ConfigObject };
    try {
      saved = JSON.parse(await readFile(file, 'utf8'));
      if (saved?.version !== LKG_VERSION || !isPlainObject(saved.config))
        throw new Error('not a consul-watch last-known-good file');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      this.logger.warn(
        `Consul is unreachable and the last-known-good file ${file} ${code === 'ENOENT' ? 'does not exist yet' : `cannot be used (${(error as Error).message})`}; waiting for Consul`,
      );
      return;
    }
    if (this.value !== undefined || this.closed) return;
    await this.commit(saved.config, 'cache', saved.savedAt);
  }

  private save(config: ConfigObject): void {
    this.pendingSave = config;
    if (this.saving) return;
    const file = this.options.lastKnownGoodFile!;
    this.saving = (async () => {
      while (this.pendingSave) {
        const next = this.pendingSave;
        this.pendingSave = undefined;
        try {
          await writeFileAtomic(
            file,
            JSON.stringify({
              version: LKG_VERSION,
              savedAt: new Date().toISOString(),
              config: next,
            }),
          );
        } catch (error) {
          this.logger.warn(
            `could not write the last-known-good file ${file}: ${(error as Error).message}`,
          );
        }
      }
    })().finally(() => {
      this.saving = undefined;
    });
  }

  private report(error: ConsulWatchError): void {
    if (this.listeners.error.size === 0) this.logger.warn(error.message, { code: error.code });
    for (const listener of [...this.listeners.error]) this.safely(() => listener(error), false);
  }

  private emit(event: 'change' | 'ready', payload: unknown): void {
    for (const listener of [...(this.listeners[event] as Set<(p: unknown) => void>)])
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
