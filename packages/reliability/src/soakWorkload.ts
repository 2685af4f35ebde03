import { between, consulJson, consulOk, pick, type Rng, sleep, stableJson } from './soakUtil';

/** Every name one soak run uses, unique per run so runs can share a real agent. */
export interface SoakNames {
  run: string;
  /** KV root of the run: `soak-<run>/`. */
  root: string;
  /** Keys of the lock holders, outside the root the writer keeps in shape. */
  lockPrefix: string;
  kvPrefix: string;
  /** The key the `key` watcher follows. */
  kvKey: string;
  configPrefix: string;
  overridePrefix: string;
  /** Service with several instances, TTL checks flipped pass/fail. */
  web: string;
  /** Service that comes and goes as a whole. */
  api: string;
  nodePrefix: string;
  event: string;
  /** A flagd document (flags f0, f1) and a prefix of one flag per key (f1, f2, f3, marker). */
  flagDoc: string;
  flagPrefix: string;
}

export function soakNames(run: string): SoakNames {
  const root = `soak-${run}/`;
  return {
    run,
    root,
    kvPrefix: `${root}kv/`,
    kvKey: `${root}kv/k0`,
    configPrefix: `${root}config/`,
    overridePrefix: `${root}override/`,
    web: `soak-${run}-web`,
    api: `soak-${run}-api`,
    nodePrefix: `soak-${run}-node-`,
    event: `soak-${run}`,
    lockPrefix: `soak-${run}-locks/`,
    flagDoc: `${root}flagdoc.json`,
    flagPrefix: `${root}flags/`,
  };
}

/** The flags the soak writer keeps in Consul: f0, f1 in the document; f1 (again), f2, f3 and a marker under the prefix. */
export const SOAK_FLAGS = ['f0', 'f1', 'f2', 'f3', 'marker'];

/** A flag definition whose variants are values never written before. */
export function soakFlag(value: string): string {
  return JSON.stringify({
    state: 'ENABLED',
    variants: { a: value, b: `${value}-b` },
    defaultVariant: 'a',
    targeting: { if: [{ '==': [{ var: 'user' }, 'u1'] }, 'b', null] },
  });
}

/** What the flags evaluate to for an empty context, from the server's documents (later source wins). */
export function flagsTruth(doc: string | undefined, prefixed: Map<string, string>): string {
  const values: Record<string, string> = {};
  const take = (name: string, definition: unknown) => {
    const d = definition as { variants?: Record<string, string>; defaultVariant?: string };
    const value = d?.variants?.[d.defaultVariant ?? ''];
    if (typeof value === 'string') values[name] = value;
  };
  // The writer mends a document it spoils at once, so none is left when the server is read.
  const parse = (text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  };
  if (doc !== undefined) {
    const flags = (parse(doc) as { flags?: Record<string, unknown> } | undefined)?.flags ?? {};
    for (const [name, definition] of Object.entries(flags)) take(name, definition);
  }
  for (const [name, text] of prefixed) take(name, parse(text));
  return stableJson(values);
}

type CheckStatus = 'passing' | 'critical';

interface ServiceModel {
  name: string;
  tags: string[];
  port: number;
  status: CheckStatus;
}

const KV_KEYS = 8;
const CONFIG_KEYS = ['db/host', 'db/port', 'db/pool', 'cache/ttl', 'cache/size', 'feature/a'];
const OVERRIDE_KEYS = ['db/port', 'cache/ttl', 'feature/b'];
const WEB_INSTANCES = 4;
const NODES = 2;
/** The writer's own events, at most this often (each fault adds a marker event too). */
const EVENT_EVERY_MS = 1_200;

/**
 * What the writer has written: the state the server must hold once the writer has
 * stopped and a reconcile has run. A restore to an older snapshot breaks it; a reconcile
 * writes it back.
 */
export class SoakModel {
  readonly kv = new Map<string, string>();
  readonly services = new Map<string, ServiceModel>();
  /** Node name → the value of its `mark` metadata. */
  readonly nodes = new Map<string, string>();
}

const serviceBody = (id: string, s: ServiceModel) => ({
  ID: id,
  Name: s.name,
  Tags: s.tags,
  Port: s.port,
  // A long TTL: check statuses change only when the writer flips them, never on a timer.
  Check: { TTL: '10m', Status: s.status },
});

const enc = encodeURIComponent;

const nodeBody = (node: string, mark: string) => ({
  Node: node,
  Address: '10.0.0.1',
  NodeMeta: { mark },
});

/**
 * The writer loop: paced writes and deletes of KV keys, service (de)registrations and
 * re-tags, TTL check flips, catalog nodes coming and going, and user events. It writes
 * straight to the server (not through the fault proxy): faults are for the watchers.
 */
export class SoakWriter {
  readonly model = new SoakModel();
  readonly writesByKind: Record<string, number> = {};
  failedWrites = 0;
  eventsFired = 0;
  readonly firedEventIds: string[] = [];
  /** A write failed, so the model may not match the server until the next reconcile. */
  dirty = false;
  /** Every variant value a flag definition written to Consul ever held (added before the write). */
  readonly flagValues = new Set<string>();
  private seq = 0;
  private lastEventAt = Number.NEGATIVE_INFINITY;
  private gate: { promise: Promise<void>; open: () => void } | undefined;
  private busy: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly names: SoakNames,
    private readonly base: () => string,
    private readonly rng: Rng,
    private readonly paceMs: [number, number] = [15, 45],
  ) {}

  get writes(): number {
    return Object.values(this.writesByKind).reduce((a, b) => a + b, 0);
  }

  private count(kind: string): void {
    this.writesByKind[kind] = (this.writesByKind[kind] ?? 0) + 1;
  }

  /** A flag definition of values never written before, counted as written. */
  private nextFlag(): string {
    const value = `fv-${this.nextValue()}`;
    this.flagValues.add(value);
    this.flagValues.add(`${value}-b`);
    return soakFlag(value);
  }

  private flagDocument(): string {
    return JSON.stringify({
      flags: { f0: JSON.parse(this.nextFlag()), f1: JSON.parse(this.nextFlag()) },
    });
  }

  /**
   * A write to the flags: a flag under the prefix or the whole document; now and then a document
   * that cannot be used (the provider must keep its last good flags), mended by the next write.
   */
  private async flagStep(): Promise<void> {
    const base = this.base();
    const n = this.names;
    const r = this.rng();
    const key = r < 0.7 ? `${n.flagPrefix}${pick(this.rng, ['f1', 'f2', 'f3'])}` : n.flagDoc;
    // The second flag write is always spoilt first, so even a short run has one to survive.
    const spoil = this.rng() < 0.2 || this.writesByKind['flags.put'] === 1;
    if (spoil) {
      await consulOk(base, 'PUT', `/v1/kv/${key}`, '{"flags": ');
      this.count('flags.bad');
    }
    const value = key === n.flagDoc ? this.flagDocument() : this.nextFlag();
    await consulOk(base, 'PUT', `/v1/kv/${key}`, value);
    this.model.kv.set(key, value);
    this.count('flags.put');
  }

  private nextValue(): string {
    this.seq += 1;
    return `v${this.seq}`;
  }

  /** Values that decode to numbers, booleans and strings in an 'auto' config. */
  private configValue(): string {
    this.seq += 1;
    const r = this.rng();
    if (r < 0.4) return String(this.seq);
    if (r < 0.55) return this.seq % 2 === 0 ? 'true' : 'false';
    return `s-${this.seq}`;
  }

  /** Writes the starting data set (before any watcher starts). */
  async seed(): Promise<void> {
    const m = this.model;
    for (let i = 0; i < KV_KEYS; i++) m.kv.set(`${this.names.kvPrefix}k${i}`, this.nextValue());
    for (const k of CONFIG_KEYS) m.kv.set(`${this.names.configPrefix}${k}`, this.configValue());
    m.kv.set(`${this.names.overridePrefix}db/port`, '6543');
    m.kv.set(this.names.flagDoc, this.flagDocument());
    for (const f of ['f1', 'f2', 'f3']) m.kv.set(`${this.names.flagPrefix}${f}`, this.nextFlag());
    for (let i = 1; i <= WEB_INSTANCES - 1; i++) {
      m.services.set(`${this.names.web}-${i}`, {
        name: this.names.web,
        tags: ['v1'],
        port: 8000 + i,
        status: i === 3 ? 'critical' : 'passing',
      });
    }
    m.services.set(`${this.names.api}-1`, {
      name: this.names.api,
      tags: ['api'],
      port: 9000,
      status: 'passing',
    });
    m.nodes.set(`${this.names.nodePrefix}1`, '');
    await this.reconcile();
    await this.touchAll();
  }

  /**
   * One write on every topic a watcher follows: a KV key under each prefix, two marker
   * instances of the web service (one passing, one critical) re-tagged, which changes the
   * service list, both service views and both check views, a marker node's metadata, and
   * an event. After a fault, every watcher matching the server once this is written proves
   * it is live again, not only that its old data happens to be equal.
   */
  async touchAll(): Promise<void> {
    const base = this.base();
    const n = this.names;
    const m = this.model;
    const mark = this.nextValue();
    const puts: [string, string][] = [
      [n.kvKey, mark],
      [`${n.configPrefix}marker/c`, mark],
      [`${n.overridePrefix}marker/o`, mark],
      [`${n.flagPrefix}marker`, this.nextFlag()],
    ];
    for (const [key, value] of puts) {
      await consulOk(base, 'PUT', `/v1/kv/${key}`, value);
      m.kv.set(key, value);
    }
    for (const [id, status] of [
      [`${n.web}-marker-ok`, 'passing'],
      [`${n.web}-marker-crit`, 'critical'],
    ] as const) {
      const s: ServiceModel = { name: n.web, tags: ['marker', mark], port: 7000, status };
      await consulOk(base, 'PUT', '/v1/agent/service/register', serviceBody(id, s));
      m.services.set(id, s);
    }
    const node = `${n.nodePrefix}marker`;
    await consulOk(base, 'PUT', '/v1/catalog/register', nodeBody(node, mark));
    m.nodes.set(node, mark);
    const text = await consulOk(base, 'PUT', `/v1/event/fire/${enc(n.event)}`, mark);
    this.firedEventIds.push((JSON.parse(text) as { ID: string }).ID);
    this.eventsFired += 1;
    this.writesByKind.marker = (this.writesByKind.marker ?? 0) + puts.length + 4;
  }

  /**
   * Makes the server hold the model: writes what differs, deletes what the model lacks.
   * Returns the number of writes it needed.
   */
  async reconcile(): Promise<number> {
    const base = this.base();
    const n = this.names;
    let writes = 0;
    const kv = await consulJson<{ Key: string; Value: string | null }[]>(
      base,
      `/v1/kv/${n.root}?recurse`,
      [],
    );
    const onServer = new Map(
      kv.map((e) => [e.Key, Buffer.from(e.Value ?? '', 'base64').toString('utf8')]),
    );
    for (const [key, value] of this.model.kv) {
      if (onServer.get(key) === value) continue;
      await consulOk(base, 'PUT', `/v1/kv/${key}`, value);
      writes += 1;
    }
    for (const key of onServer.keys()) {
      if (this.model.kv.has(key)) continue;
      await consulOk(base, 'DELETE', `/v1/kv/${key}`);
      writes += 1;
    }
    const services = await consulJson<Record<string, { Tags: string[] | null; Port: number }>>(
      base,
      '/v1/agent/services',
      {},
    );
    const checks = await consulJson<Record<string, { Status: string }>>(
      base,
      '/v1/agent/checks',
      {},
    );
    const ours = (id: string) => id.startsWith(`${n.web}-`) || id.startsWith(`${n.api}-`);
    for (const [id, s] of this.model.services) {
      const there = services[id];
      const sameTags = there && JSON.stringify(there.Tags ?? []) === JSON.stringify(s.tags);
      if (!there || !sameTags || there.Port !== s.port) {
        await consulOk(base, 'PUT', '/v1/agent/service/register', serviceBody(id, s));
        writes += 1;
      } else if (checks[`service:${id}`]?.Status !== s.status) {
        await consulOk(
          base,
          'PUT',
          `/v1/agent/check/${s.status === 'passing' ? 'pass' : 'fail'}/${enc(`service:${id}`)}`,
        );
        writes += 1;
      }
    }
    for (const id of Object.keys(services)) {
      if (!ours(id) || this.model.services.has(id)) continue;
      await consulOk(base, 'PUT', `/v1/agent/service/deregister/${enc(id)}`);
      writes += 1;
    }
    const nodes = await consulJson<{ Node: string; Meta: Record<string, string> | null }[]>(
      base,
      '/v1/catalog/nodes',
      [],
    );
    const nodeMarks = new Map(nodes.map((x) => [x.Node, x.Meta?.mark ?? '']));
    for (const [node, mark] of this.model.nodes) {
      if (nodeMarks.get(node) === mark) continue;
      await consulOk(base, 'PUT', '/v1/catalog/register', nodeBody(node, mark));
      writes += 1;
    }
    for (const node of nodeMarks.keys()) {
      if (!node.startsWith(n.nodePrefix) || this.model.nodes.has(node)) continue;
      await consulOk(base, 'PUT', '/v1/catalog/deregister', { Node: node });
      writes += 1;
    }
    if (writes > 0) this.writesByKind.reconcile = (this.writesByKind.reconcile ?? 0) + writes;
    this.dirty = false;
    return writes;
  }

  /** One write, chosen at random. */
  async step(): Promise<void> {
    const base = this.base();
    const n = this.names;
    const m = this.model;
    if (this.rng() < 0.1) return this.flagStep();
    const r = this.rng();
    if (r < 0.3) {
      const key = `${n.kvPrefix}k${between(this.rng, 0, KV_KEYS - 1)}`;
      const value = this.nextValue();
      await consulOk(base, 'PUT', `/v1/kv/${key}`, value);
      m.kv.set(key, value);
      this.count('kv.put');
    } else if (r < 0.38) {
      // The same bytes again: Consul raises the index, and no watcher may deliver anything.
      const existing = [...m.kv].filter(([k]) => k.startsWith(n.kvPrefix));
      if (existing.length === 0) return;
      const [key, value] = pick(this.rng, existing);
      await consulOk(base, 'PUT', `/v1/kv/${key}`, value);
      this.count('kv.rewrite');
    } else if (r < 0.46) {
      const key = `${n.kvPrefix}k${between(this.rng, 0, KV_KEYS - 1)}`;
      await consulOk(base, 'DELETE', `/v1/kv/${key}`);
      m.kv.delete(key);
      this.count('kv.delete');
    } else if (r < 0.58) {
      const key = `${n.configPrefix}${pick(this.rng, CONFIG_KEYS)}`;
      const value = this.configValue();
      await consulOk(base, 'PUT', `/v1/kv/${key}`, value);
      m.kv.set(key, value);
      this.count('config.put');
    } else if (r < 0.64) {
      const key = `${n.overridePrefix}${pick(this.rng, OVERRIDE_KEYS)}`;
      if (m.kv.has(key) && this.rng() < 0.5) {
        await consulOk(base, 'DELETE', `/v1/kv/${key}`);
        m.kv.delete(key);
        this.count('config.delete');
      } else {
        const value = this.configValue();
        await consulOk(base, 'PUT', `/v1/kv/${key}`, value);
        m.kv.set(key, value);
        this.count('config.put');
      }
    } else if (r < 0.74) {
      const id = `${n.web}-${between(this.rng, 1, WEB_INSTANCES)}`;
      const s = m.services.get(id);
      if (s && this.rng() < 0.4) {
        await consulOk(base, 'PUT', `/v1/agent/service/deregister/${enc(id)}`);
        m.services.delete(id);
        this.count('service.deregister');
      } else {
        const next: ServiceModel = {
          name: n.web,
          tags: [this.rng() < 0.5 ? 'v1' : 'v2'],
          port: 8000 + between(this.rng, 0, 9),
          status: s?.status ?? 'passing',
        };
        await consulOk(base, 'PUT', '/v1/agent/service/register', serviceBody(id, next));
        m.services.set(id, next);
        this.count('service.register');
      }
    } else if (r < 0.88) {
      const web = [...m.services].filter(([id, s]) => s.name === n.web && !id.includes('-marker-'));
      if (web.length === 0) return;
      const [id, s] = pick(this.rng, web);
      const status: CheckStatus = s.status === 'passing' ? 'critical' : 'passing';
      await consulOk(
        base,
        'PUT',
        `/v1/agent/check/${status === 'passing' ? 'pass' : 'fail'}/${enc(`service:${id}`)}`,
      );
      s.status = status;
      this.count('check.flip');
    } else if (r < 0.92) {
      const id = `${n.api}-1`;
      if (m.services.has(id)) {
        await consulOk(base, 'PUT', `/v1/agent/service/deregister/${enc(id)}`);
        m.services.delete(id);
        this.count('service.deregister');
      } else {
        const s: ServiceModel = { name: n.api, tags: ['api'], port: 9000, status: 'passing' };
        await consulOk(base, 'PUT', '/v1/agent/service/register', serviceBody(id, s));
        m.services.set(id, s);
        this.count('service.register');
      }
    } else if (r < 0.96) {
      const node = `${n.nodePrefix}${between(this.rng, 1, NODES)}`;
      if (m.nodes.has(node)) {
        await consulOk(base, 'PUT', '/v1/catalog/deregister', { Node: node });
        m.nodes.delete(node);
        this.count('node.deregister');
      } else {
        await consulOk(base, 'PUT', '/v1/catalog/register', nodeBody(node, ''));
        m.nodes.set(node, '');
        this.count('node.register');
      }
    } else {
      if (performance.now() - this.lastEventAt < EVENT_EVERY_MS) return;
      this.lastEventAt = performance.now();
      const text = await consulOk(base, 'PUT', `/v1/event/fire/${enc(n.event)}`, this.nextValue());
      this.firedEventIds.push((JSON.parse(text) as { ID: string }).ID);
      this.eventsFired += 1;
      this.count('event.fire');
    }
  }

  /** Runs until `stop()`, one write at a time, paced, honouring `pause()`. */
  async run(): Promise<void> {
    while (!this.stopped) {
      if (this.gate) {
        await this.gate.promise;
        continue;
      }
      this.busy = this.step().catch(() => {
        this.failedWrites += 1;
        this.dirty = true;
      });
      await this.busy;
      this.busy = undefined;
      if (this.stopped) return;
      await this.paced();
    }
  }

  private pacing: AbortController | undefined;

  private async paced(): Promise<void> {
    this.pacing = new AbortController();
    await sleep(between(this.rng, this.paceMs[0], this.paceMs[1]), this.pacing.signal);
    this.pacing = undefined;
  }

  /** Holds the writer; resolves once no write is in flight. */
  async pause(): Promise<void> {
    if (!this.gate) {
      let open!: () => void;
      const promise = new Promise<void>((resolve) => (open = resolve));
      this.gate = { promise, open };
    }
    await this.busy;
  }

  resume(): void {
    const gate = this.gate;
    this.gate = undefined;
    gate?.open();
  }

  /** Ends the loop; resolves once no write is in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.pacing?.abort();
    this.resume();
    await this.busy;
  }
}
