import { checkFormat, decodeValue, formatOfKey, type ValueFormat } from './codec';
import { type ConfigObject, deepFreeze, isPlainObject, topKeysChanged } from './configTree';
import { type ConsulWatchError, DecodeError, InvalidInputError } from './errors';
import { validateKey } from './keys';
import type { KvEntry } from './kv';
import { LayerTree } from './layerTree';
import { describeValue } from './messageText';
import { checkOptionNames } from './optionNames';
import type { KvChange, WatchSettings, WatchSpec } from './watchTypes';

/** How values of keys without a known extension decode in tree layers. */
export type TreeFormat = ValueFormat | 'auto';

/**
 * A layer of config: a tree of keys under a prefix (`'config/my-app/'`, ends with '/') or
 * one key holding a whole JSON/YAML document (`'config/my-app.yaml'`).
 */
export type ConfigLayer =
  | string
  | { prefix: string; format?: TreeFormat; required?: boolean }
  | { key: string; format?: ValueFormat; required?: boolean };

/** A layer checked and put in one shape: what to watch and how to read it. */
export interface LayerSpec {
  spec: WatchSpec;
  kind: 'tree' | 'document';
  /** For trees: the prefix relative to the connection prefix; for documents: the key. */
  path: string;
  format: TreeFormat | ValueFormat | undefined;
  /** An absent required layer holds the config back (ready() fails) instead of a warning. */
  required: boolean;
}

const EMPTY: ConfigObject = Object.freeze({});

/** What a JSON text can begin with, after optional whitespace. */
const JSON_START = /^\s*[[{"\d-]|^\s*(true|false|null)\s*$/;

const LAYER_OPTIONS = ['prefix', 'key', 'format', 'required'];

export function normaliseLayer(layer: ConfigLayer, settings: WatchSettings, i: number): LayerSpec {
  const shape = typeof layer === 'string' || (layer !== null && typeof layer === 'object');
  if (!shape || Array.isArray(layer)) {
    throw new InvalidInputError(
      `liveConfig layer ${i} must be a prefix ('app/'), a key ('app.json'), { prefix, format?, required? } or { key, format?, required? }; got ${describeValue(layer)}`,
    );
  }
  if (typeof layer !== 'string') {
    checkOptionNames(layer, LAYER_OPTIONS, `liveConfig layer ${i}`);
    if ('prefix' in layer === 'key' in layer)
      throw new InvalidInputError(
        `liveConfig layer ${i} needs either prefix (a folder of keys) or key (one JSON/YAML document), not ${'prefix' in layer ? 'both' : 'neither'}`,
      );
    if (layer.required !== undefined && typeof layer.required !== 'boolean')
      throw new InvalidInputError(
        `liveConfig layer ${i}: required must be true or false, got ${describeValue(layer.required)}`,
      );
  }
  const base = { required: typeof layer !== 'string' && layer.required === true };
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
  if ('prefix' in layer) {
    // A layer prefix is a folder: { prefix: 'config/app' } must not also read 'config/app2/'.
    const folder =
      layer.prefix === '' || layer.prefix.endsWith('/') ? layer.prefix : `${layer.prefix}/`;
    return {
      ...base,
      kind: 'tree',
      path: folder,
      format: layer.format,
      spec: { ...settings, type: 'keyprefix', prefix: folder },
    };
  }
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
  let rest = key.slice(prefix.length);
  if (rest.includes('.')) rest = rest.replace(/\.(json|ya?ml)$/i, '');
  const segments = rest.split('/');
  return segments.includes('') ? segments.filter((s) => s !== '') : segments;
}

/**
 * One layer's decoded config. A change decodes only the keys it names; a value that does not
 * decode is reported and its key keeps its last good value.
 */
export class LayerState {
  /** The layer's config; undefined until the layer's first answer. Frozen, shared where unchanged. */
  tree: ConfigObject | undefined;
  private readonly trie = new LayerTree();
  private document: ConfigObject | undefined;
  /** A document layer's key is in Consul (whether or not its value decodes). */
  private exists = false;

  constructor(
    readonly layer: LayerSpec,
    /** The config's default for tree values without an extension. */
    private readonly defaultFormat: TreeFormat | undefined,
  ) {}

  /**
   * Applies a change of the layer's keys; adds to `touched` the top-level config keys whose
   * subtree may have changed, so a merge and a diff can look at those alone.
   */
  apply(change: KvChange, report: (error: ConsulWatchError) => void, touched: Set<string>): void {
    const { kind, path } = this.layer;
    for (const c of change.changes) {
      if (kind === 'document') {
        const before = this.document ?? EMPTY;
        this.exists = c.op !== 'delete';
        if (c.op === 'delete') this.document = undefined;
        else this.decode(c.entry, report, (value) => (this.document = value as ConfigObject));
        topKeysChanged(before, this.document ?? EMPTY, touched);
        continue;
      }
      const segments = treeSegments(c.key, path);
      if (segments.length === 0) continue;
      touched.add(segments[0]!);
      if (c.op === 'delete') this.trie.delete(segments);
      else if (!c.entry.key.endsWith('/'))
        this.decode(c.entry, report, (value) => this.trie.set(segments, value));
    }
    this.tree = kind === 'tree' ? this.trie.tree : (this.document ?? EMPTY);
  }

  /** Whether Consul has nothing for the layer: its key is missing, or no value lies under its prefix. */
  get absent(): boolean {
    if (this.layer.kind === 'document') return !this.exists;
    for (const _ in this.tree) return false;
    return true;
  }

  private decode(
    entry: KvEntry,
    report: (error: ConsulWatchError) => void,
    use: (value: unknown) => void,
  ): void {
    const { kind, format: layerFormat } = this.layer;
    const byExtension = formatOfKey(entry.key);
    const format =
      byExtension !== 'text'
        ? byExtension
        : (layerFormat ?? this.defaultFormat ?? (kind === 'document' ? 'json' : 'text'));
    try {
      let value: unknown;
      if (format === 'auto') {
        const text = entry.value.toString('utf8');
        value = text;
        // Only text that can start a JSON value is tried: a thrown parse error costs ~20×
        // a successful parse, and most plain text fails at its first character anyway.
        if (JSON_START.test(text)) {
          try {
            value = JSON.parse(text);
          } catch {
            // plain text after all
          }
        }
      } else value = decodeValue(entry.value, format, entry.key, true);
      if (kind === 'document' && !isPlainObject(value)) {
        throw new DecodeError(
          `Key ${JSON.stringify(entry.key)} must hold a ${format.toUpperCase()} object to be a config layer; it holds ${Array.isArray(value) ? 'an array' : typeof value}. The last good config stays in use.`,
          entry.key,
        );
      }
      use(deepFreeze(value));
    } catch (error) {
      // The key keeps its last good value (if it had one); the error names it.
      report(error as ConsulWatchError);
    }
  }
}
