import type { AvailabilityGate } from './blockingQuery';
import { checkToken } from './connection';
import type { CallSettings, ConsulHttp } from './consulHttp';
import { InvalidInputError } from './errors';
import type { Logger } from './logger';
import { type EngineOptions, SharedWatch } from './sharedWatch';
import { WATCH_SETTINGS, type WatchSpec, type WatchTypeName, watchTypes } from './watchTypes';

const SETTINGS = new Set<string>(['type', ...WATCH_SETTINGS]);

function splitSpec(spec: WatchSpec): {
  name: WatchTypeName;
  params: Record<string, unknown>;
  settings: CallSettings;
} {
  if (spec === null || typeof spec !== 'object')
    throw new InvalidInputError(
      'watch needs a spec object such as { type: "keyprefix", prefix: "app/" }',
    );
  const name = spec.type;
  if (!Object.hasOwn(watchTypes, name)) {
    throw new InvalidInputError(
      `watch type ${JSON.stringify(name)} is not one of ${Object.keys(watchTypes).join(', ')}`,
    );
  }
  const params: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(spec)) if (!SETTINGS.has(k) && v !== undefined) params[k] = v;
  const settings: CallSettings = {};
  if (spec.datacenter !== undefined) settings.datacenter = spec.datacenter;
  const token = checkToken(spec.token, `watch ${name}`);
  if (token !== undefined) settings.token = token;
  if (spec.consistency !== undefined) {
    if (!['default', 'stale', 'consistent'].includes(spec.consistency)) {
      throw new InvalidInputError(
        `watch ${name}: consistency ${JSON.stringify(spec.consistency)} must be 'default', 'stale' or 'consistent'`,
      );
    }
    settings.consistency = spec.consistency;
  }
  return { name, params, settings };
}

function signature(name: string, params: Record<string, unknown>, settings: CallSettings): string {
  const sorted = Object.keys(params)
    .sort()
    .map((k) => [k, params[k]]);
  return JSON.stringify([
    name,
    sorted,
    settings.datacenter ?? '',
    settings.token ?? '',
    settings.consistency ?? '',
  ]);
}

/** Where shared watches live: one per distinct type, parameters and settings. */
export class WatchHub {
  private readonly watches = new Map<string, SharedWatch>();

  constructor(
    private readonly http: ConsulHttp,
    private readonly engine: EngineOptions,
    private readonly logger: Logger,
    private readonly availability?: AvailabilityGate,
  ) {}

  /** Number of distinct blocking queries running. */
  get size(): number {
    return this.watches.size;
  }

  /** The shared watches running now. */
  all(): IterableIterator<SharedWatch> {
    return this.watches.values();
  }

  acquire(
    spec: WatchSpec,
    engine: EngineOptions = {},
  ): { shared: SharedWatch; release: () => Promise<void> } {
    const { name, params, settings } = splitSpec(spec);
    const def = watchTypes[name];
    if (params.filter !== undefined && !def.filterable) {
      throw new InvalidInputError(
        `${name} watch: filter is not supported; Consul filters the catalog and health reads only (services, nodes, service and checks watches)`,
      );
    }
    def.validate(params as never);
    const key = signature(name, params, settings);
    let shared = this.watches.get(key);
    if (!shared) {
      // The first subscriber's engine options (wait, interval, back-off) hold for the shared query.
      shared = new SharedWatch(
        name,
        def,
        params,
        this.http,
        settings,
        { ...this.engine, ...engine },
        this.logger,
        this.availability,
      );
      this.watches.set(key, shared);
    }
    const owner = shared;
    return {
      shared,
      release: async () => {
        if (owner.listeners.size > 0 || this.watches.get(key) !== owner) return;
        this.watches.delete(key);
        await owner.stop();
      },
    };
  }

  async close(): Promise<void> {
    const all = [...this.watches.values()];
    this.watches.clear();
    await Promise.all(all.map((w) => w.stop()));
  }
}
