import type {
  CatalogChange,
  ConfigChangeEvent,
  KvEntry,
  LiveConfig,
  WatchChange,
} from '@consul-watch/core';
import { consulJson, stableJson } from './soakUtil';
import { flagsTruth } from './soakWorkload';

/** What a probe is compared with: one direct read of the server. */
export type TruthTarget =
  | { kind: 'key'; key: string }
  | { kind: 'keyprefix'; prefix: string }
  | { kind: 'services' }
  | { kind: 'nodes' }
  | { kind: 'service'; service: string; passingOnly: boolean }
  | { kind: 'checks'; service: string }
  | { kind: 'state'; state: 'critical' | 'passing' }
  | { kind: 'events'; name: string }
  | { kind: 'config'; layers: string[] }
  | { kind: 'flags'; doc: string; prefix: string };

export const targetId = (t: TruthTarget) => stableJson(t);

/** Canonical forms of every target, read at one moment (the writer paused). */
export type Truth = Map<string, { canonical: string; ids?: string[] }>;

interface RawKv {
  Key: string;
  Value: string | null;
  Flags: number;
}

const byId = <T>(items: T[], id: (item: T) => string) =>
  [...items].sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0));

// Canonical forms. The same function shape serves a watcher's delivered state and the
// server's direct answer, so equal data gives equal strings.
export const canonicalKv = (entries: Iterable<[string, string, number]>) =>
  stableJson(byId([...entries], (e) => e[0]));

export const kvFromEntries = (entries: ReadonlyMap<string, KvEntry>) =>
  canonicalKv([...entries.values()].map((e) => [e.key, e.value.toString('base64'), e.flags]));

const kvFromRaw = (raw: RawKv[]) => canonicalKv(raw.map((e) => [e.Key, e.Value ?? '', e.Flags]));

const services = (pairs: [string, string[]][]) =>
  stableJson(byId(pairs, (p) => p[0]).map(([name, tags]) => [name, [...tags].sort()]));

type AnyRecord = Record<string, unknown> & {
  Node?: unknown;
  CheckID?: string;
  Service?: { ID: string };
};

const nodeId = (n: AnyRecord) => String(n.Node);
const entryId = (e: AnyRecord) => `${(e.Node as { Node: string }).Node}/${e.Service!.ID}`;
const checkId = (c: AnyRecord) => `${c.Node}/${c.CheckID}`;

function catalogCanonical(kind: TruthTarget['kind'], items: AnyRecord[]): string {
  const id = kind === 'nodes' ? nodeId : kind === 'service' ? entryId : checkId;
  return stableJson(byId(items, id));
}

/** 'auto' decoding, as LiveConfig does it: JSON when it parses, the text otherwise. */
function decodeAuto(base64: string | null): unknown {
  const text = Buffer.from(base64 ?? '', 'base64').toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

function merge(base: Record<string, unknown>, over: Record<string, unknown>) {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const e = out[k];
    out[k] = isObject(e) && isObject(v) ? merge(e, v) : v;
  }
  return out;
}

/** The config a live config of these tree layers must hold, built from their KV entries. */
export function configTree(layers: { prefix: string; entries: RawKv[] }[]): unknown {
  let config: Record<string, unknown> = {};
  for (const { prefix, entries } of layers) {
    const tree: Record<string, unknown> = {};
    for (const e of entries) {
      if (e.Key.endsWith('/')) continue;
      const segments = e.Key.slice(prefix.length).split('/').filter(Boolean);
      if (segments.length === 0) continue;
      let at = tree;
      for (const s of segments.slice(0, -1)) {
        if (!isObject(at[s])) at[s] = {};
        at = at[s] as Record<string, unknown>;
      }
      at[segments[segments.length - 1]!] = decodeAuto(e.Value);
    }
    config = merge(config, tree);
  }
  return config;
}

/** Reads every target straight from the server, each once. */
export async function readTruth(base: string, targets: TruthTarget[]): Promise<Truth> {
  const truth: Truth = new Map();
  const prefixes = new Map<string, Promise<RawKv[]>>();
  const kvList = (prefix: string) => {
    let p = prefixes.get(prefix);
    if (!p) {
      p = consulJson<RawKv[]>(base, `/v1/kv/${prefix}?recurse`, []);
      prefixes.set(prefix, p);
    }
    return p;
  };
  const unique = new Map(targets.map((t) => [targetId(t), t]));
  await Promise.all(
    [...unique].map(async ([id, t]) => {
      let value: { canonical: string; ids?: string[] };
      switch (t.kind) {
        case 'key':
          value = { canonical: kvFromRaw(await consulJson<RawKv[]>(base, `/v1/kv/${t.key}`, [])) };
          break;
        case 'keyprefix':
          value = { canonical: kvFromRaw(await kvList(t.prefix)) };
          break;
        case 'services': {
          const raw = await consulJson<Record<string, string[] | null>>(
            base,
            '/v1/catalog/services',
            {},
          );
          value = { canonical: services(Object.entries(raw).map(([k, v]) => [k, v ?? []])) };
          break;
        }
        case 'nodes':
          value = {
            canonical: catalogCanonical(
              'nodes',
              await consulJson<AnyRecord[]>(base, '/v1/catalog/nodes', []),
            ),
          };
          break;
        case 'service':
          value = {
            canonical: catalogCanonical(
              'service',
              await consulJson<AnyRecord[]>(
                base,
                `/v1/health/service/${t.service}${t.passingOnly ? '?passing=true' : ''}`,
                [],
              ),
            ),
          };
          break;
        case 'checks':
          value = {
            canonical: catalogCanonical(
              'checks',
              await consulJson<AnyRecord[]>(base, `/v1/health/checks/${t.service}`, []),
            ),
          };
          break;
        case 'state':
          value = {
            canonical: catalogCanonical(
              'checks',
              await consulJson<AnyRecord[]>(base, `/v1/health/state/${t.state}`, []),
            ),
          };
          break;
        case 'events': {
          const list = await consulJson<{ ID: string }[]>(
            base,
            `/v1/event/list?name=${encodeURIComponent(t.name)}`,
            [],
          );
          const ids = list.map((e) => e.ID);
          value = { canonical: stableJson(ids), ids };
          break;
        }
        case 'config': {
          const layers = await Promise.all(
            t.layers.map(async (prefix) => ({ prefix, entries: await kvList(prefix) })),
          );
          value = { canonical: stableJson(configTree(layers)) };
          break;
        }
        case 'flags': {
          const [doc, entries] = await Promise.all([
            consulJson<RawKv[]>(base, `/v1/kv/${t.doc}`, []),
            kvList(t.prefix),
          ]);
          const text = (e: RawKv) => Buffer.from(e.Value ?? '', 'base64').toString('utf8');
          const prefixed = new Map(entries.map((e) => [e.Key.slice(t.prefix.length), text(e)]));
          value = { canonical: flagsTruth(doc[0] ? text(doc[0]) : undefined, prefixed) };
          break;
        }
      }
      truth.set(id, value);
    }),
  );
  return truth;
}

/** One observer of delivered changes: counts them, spots duplicates, compares with the server. */
export interface Probe {
  readonly name: string;
  readonly target: TruthTarget;
  deliveries: number;
  /** Deliveries whose state equals the previous delivered state (or, for events, an ID seen before). */
  duplicates: number;
  /** Errors reported to this subscriber; undefined where the adapter keeps them to itself. */
  errors: number | undefined;
  matches(truth: Truth): boolean;
}

/** Canonical state of a delivered change, per watch type. */
export function canonicalOfChange(change: WatchChange): string {
  switch (change.type) {
    case 'key':
    case 'keyprefix':
      return kvFromEntries(change.entries);
    case 'services':
      return services(change.current.map((s) => [s.name, s.tags]));
    case 'nodes':
    case 'service':
    case 'checks':
      return catalogCanonical(
        change.type,
        (change as CatalogChange<unknown>).current as AnyRecord[],
      );
    case 'event':
      throw new Error('events are compared by ID; use EventProbe');
  }
}

/** A subscriber of a key, keyprefix or catalog watch (core watch or @OnConsulChange handler). */
export class WatchProbe implements Probe {
  deliveries = 0;
  duplicates = 0;
  errors: number | undefined;
  private last: string | undefined;

  constructor(
    readonly name: string,
    readonly target: TruthTarget,
    options: { countsErrors?: boolean } = {},
  ) {
    if (options.countsErrors ?? true) this.errors = 0;
  }

  /** An error reported to this subscriber. */
  failed(): void {
    this.errors = (this.errors ?? 0) + 1;
  }

  deliver(change: WatchChange): void {
    this.deliveries += 1;
    const state = canonicalOfChange(change);
    if (this.last !== undefined && state === this.last) this.duplicates += 1;
    this.last = state;
  }

  matches(truth: Truth): boolean {
    return this.last !== undefined && this.last === truth.get(targetId(this.target))?.canonical;
  }
}

/** A subscriber of the event watch: each event must arrive exactly once, by ID. */
export class EventProbe implements Probe {
  deliveries = 0;
  duplicates = 0;
  /** Events delivered a second time (by ID). */
  duplicateIds = 0;
  errors = 0;
  readonly delivered = new Set<string>();
  private known = new Set<string>();
  private started = false;

  constructor(
    readonly name: string,
    readonly target: TruthTarget,
  ) {}

  /** The watch runs with `replay: true`: its first change lists the events from before the run. */
  deliver(change: WatchChange<'event'>): void {
    if (change.initial) {
      this.started = true;
      for (const e of change.events) this.known.add(e.ID);
      return;
    }
    this.deliveries += 1;
    if (change.events.length === 0) this.duplicates += 1;
    for (const e of change.events) {
      if (this.delivered.has(e.ID) || this.known.has(e.ID)) this.duplicateIds += 1;
      this.delivered.add(e.ID);
    }
  }

  matches(truth: Truth): boolean {
    const ids = truth.get(targetId(this.target))?.ids ?? [];
    return this.started && ids.every((id) => this.delivered.has(id) || this.known.has(id));
  }
}

/** A live config (core, Express or Nest): its 'change' events and its snapshot. */
export class ConfigProbe implements Probe {
  deliveries = 0;
  duplicates = 0;
  errors = 0;
  private last: string | undefined;

  constructor(
    readonly name: string,
    readonly target: TruthTarget,
  ) {}

  /** The first config ('ready'), not a change. */
  ready(snapshot: unknown): void {
    this.last ??= stableJson(snapshot);
  }

  deliver(event: Pick<ConfigChangeEvent<unknown>, 'snapshot'>): void {
    this.deliveries += 1;
    const state = stableJson(event.snapshot);
    if (this.last !== undefined && state === this.last) this.duplicates += 1;
    this.last = state;
  }

  matches(truth: Truth): boolean {
    return this.last !== undefined && this.last === truth.get(targetId(this.target))?.canonical;
  }

  /** Follows a LiveConfig: ready, change and error events. */
  follow<T>(config: LiveConfig<T>): () => void {
    const onChange = (event: ConfigChangeEvent<T>) => this.deliver(event);
    const onError = () => {
      this.errors += 1;
    };
    config.on('change', onChange);
    config.on('error', onError);
    if (config.snapshot !== undefined) this.ready(config.snapshot);
    else config.on('ready', () => this.ready(config.snapshot));
    return () => {
      config.off('change', onChange);
      config.off('error', onError);
    };
  }
}

export interface Convergence {
  ok: boolean;
  ms: number;
  /** Probes that still differ from the server when the bounded wait ran out. */
  divergent: string[];
}
