import type Consul from 'consul';
import { type ApiClient, apiClient } from './apiClient';
import {
  AvailabilityMonitor,
  type AvailabilityOptions,
  type AvailabilityStatus,
  DEFAULT_AVAILABILITY,
} from './availability';
import { type ConfigObject } from './configTree';
import { CONNECTION_OPTIONS, type ConnectionOptions, resolveConnection } from './connection';
import { ConsulHttp } from './consulHttp';
import { ClientClosedError, ConsulUnavailableError, InvalidInputError } from './errors';
import type { WatchHealth } from './health';
import { checkHoldOptions, type HoldOptions } from './hold';
import { validateKey } from './keys';
import { KvClient } from './kv';
import { type LeaderCallbacks, LeaderElection, withLeaderValue } from './leader';
import { LiveConfig, type LiveConfigOptions } from './liveConfig';
import { type ConsulLock, KvLock, type LockOptions } from './lock';
import { describeValue } from './messageText';
import { recordMetrics } from './metrics';
import { checkOptionNames, namesOf } from './optionNames';
import { checkNumberTypes } from './optionValues';
import {
  registerService,
  type ServiceRegistration,
  type ServiceRegistrationOptions,
} from './registration';
import { type ConsulSemaphore, KvSemaphore, type SemaphoreOptions } from './semaphore';
import {
  type ConsulSession,
  checkSessionOptions,
  openSession,
  type SessionOptions,
} from './session';
import { checkEngine, ENGINE_OPTIONS, type EngineOptions } from './sharedWatch';
import { UnheardOutage } from './unheard';
import { Watch, type WatchOptions } from './watch';
import { WatchHub } from './watchHub';
import { WATCH_SETTINGS, type WatchChange, type WatchSpec, watchTypes } from './watchTypes';

export interface ConsulWatchOptions extends ConnectionOptions {
  /** Defaults for every watch's blocking query. */
  watch?: EngineOptions;
  /** How the client finds out that Consul is back after it could not be reached. */
  availability?: AvailabilityOptions;
}

export type WatchRequest = WatchSpec & WatchOptions & EngineOptions;

export type LeaderOptions = LockOptions & LeaderCallbacks;

/** Engine defaults, stated once. */
export const DEFAULT_ENGINE: Required<Omit<EngineOptions, 'backoff'>> = {
  waitMs: 5 * 60_000,
  maxRequestsPerSecond: 100,
  burst: 10,
};

export interface ConsulWatch {
  /** KV operations, relative to the `prefix` option. */
  readonly kv: KvClient;
  /** Where the client talks to, without credentials: `http://127.0.0.1:8500`. */
  readonly address: string;
  /**
   * Subscribes to a watch. Subscriptions with the same type, parameters and settings share
   * one blocking query.
   */
  watch<S extends WatchRequest>(
    request: S,
    onChange?: (change: WatchChange<S['type']>) => void | Promise<void>,
  ): Watch<S['type']>;
  /** A live, decoded view of KV layers; its watches are shared with every other subscriber. */
  liveConfig<T = ConfigObject>(options: LiveConfigOptions<T>): LiveConfig<T>;
  /**
   * Registers a service with the agent and keeps its TTL check passing until the returned
   * registration's `stop()` (or `close()`), which deregisters it.
   */
  register(options: ServiceRegistrationOptions): Promise<ServiceRegistration>;
  /**
   * Opens a Consul session and keeps it renewed until `destroy()` (or `close()`); its signal
   * aborts the moment it is lost. Share one between locks with their `session` option.
   */
  session(options?: SessionOptions): Promise<ConsulSession>;
  /**
   * A lock on one key (relative to `prefix`), compatible with HashiCorp's Go `api.Lock`:
   * `acquire()` resolves with a signal that aborts the moment the lock is lost.
   */
  lock(key: string, options?: LockOptions): ConsulLock;
  /** At most `limit` holders under a prefix, compatible with HashiCorp's Go `api.Semaphore`. */
  semaphore(prefix: string, limit: number, options?: SemaphoreOptions): ConsulSemaphore;
  /**
   * Campaigns for leadership on a lock key until `close()`: `onElected(signal)` when this
   * process becomes leader, `onDemoted(reason)` when it stops.
   */
  leader(key: string, options?: LeaderOptions): LeaderElection;
  /** Asks Consul for its leader: resolves when Consul answers, rejects with a typed error otherwise. */
  ping(timeoutMs?: number): Promise<{ leader: string; latencyMs: number }>;
  /** Number of distinct blocking queries running now. */
  readonly activeQueries: number;
  /** Each blocking query of this client: what it watches, its state and how stale it is. */
  watchReport(): WatchHealth[];
  /**
   * Whether Consul answers, as this client last found out: false from the first request that
   * could not reach it until the availability probe is answered again.
   */
  readonly availability: AvailabilityStatus;
  /**
   * Stops every watch and live config of this client (as their own `stop()`/`close()` do) and
   * keeps the client: KV calls, registrations and new watches go on working.
   */
  stopWatches(): Promise<void>;
  /**
   * The npm `consul` client on this client's connection (address, token, TLS, datacenter,
   * consistency), for the parts of Consul's API core does not wrap: ACL, the agent's
   * endpoints, prepared queries. Made on first use; `close()` closes it.
   */
  readonly api: Consul;
  /** Stops every watch and releases every socket and timer. */
  close(): Promise<void>;
}

/** The engine's options, and the one it refuses with a message naming its replacement. */
const ENGINE_KEYS = [...ENGINE_OPTIONS, 'minIntervalMs'];

const SESSION_NUMBERS = ['ttlMs', 'lockDelayMs'];
const HOLD_NUMBERS = ['ttlMs', 'lockDelayMs', 'waitMs', 'retryMs'];

const CLIENT_OPTIONS = [...CONNECTION_OPTIONS, 'watch', 'availability'];

const AVAILABILITY_OPTIONS = namesOf<AvailabilityOptions>({
  probeMinMs: true,
  probeMaxMs: true,
  probeTimeoutMs: true,
  releaseSpreadMs: true,
});

const SESSION_OPTIONS = namesOf<SessionOptions>({
  name: true,
  ttlMs: true,
  behavior: true,
  lockDelayMs: true,
  checks: true,
});

const HOLD_OPTIONS = namesOf<HoldOptions>({
  value: true,
  session: true,
  sessionName: true,
  ttlMs: true,
  lockDelayMs: true,
  waitMs: true,
  retryMs: true,
});

const LEADER_CALLBACKS = namesOf<LeaderCallbacks>({ onElected: true, onDemoted: true });

/**
 * The names and number types of session, lock, semaphore and leader options, checked where they
 * come in: a misspelt option or a number in quotes is refused before anything is sent.
 */
function checkCallOptions(
  options: unknown,
  known: readonly string[],
  numbers: readonly string[],
  what: string,
): void {
  if (options === null || typeof options !== 'object') return;
  checkOptionNames(options, known, what);
  checkNumberTypes(options, numbers, what);
}

/**
 * Refuses option names a client does not take (`adress`), so a slip is an error instead of a
 * default in silence. Adapters that make a client from their own `connection` option check it
 * here too, naming their option (`where`).
 */
export function checkClientOptionNames(options: unknown, where: string): void {
  if (options === null || typeof options !== 'object') return;
  checkOptionNames(options, CLIENT_OPTIONS, where);
  const { watch, availability } = options as ConsulWatchOptions;
  if (watch !== null && typeof watch === 'object' && !('minIntervalMs' in watch))
    checkOptionNames(watch, ENGINE_OPTIONS, `${where} watch`);
  if (availability !== null && typeof availability === 'object')
    checkOptionNames(availability, AVAILABILITY_OPTIONS, `${where} availability`);
}

/** Consul's leader: what the availability probe and `ping()` ask. */
const LEADER = { path: '/status/leader' };

/** The front door of core: one connection to Consul, its KV operations and its watches. */
export function createConsulWatch(options: ConsulWatchOptions = {}): ConsulWatch {
  checkClientOptionNames(options, 'createConsulWatch');
  const connection = resolveConnection(options);
  if (options.watch !== undefined) checkEngine(options.watch, 'watch defaults');
  if (options.availability !== undefined) checkAvailability(options.availability);
  const http = new ConsulHttp(connection);
  const unheard = new UnheardOutage(!connection.loggerGiven);
  const monitor = new AvailabilityMonitor(
    async (signal, timeoutMs) => {
      // Not marked idempotent: a reset probe is a failed probe, not a reason for a second connection.
      const res = await http.request<string>('availability probe', { signal, timeoutMs }, LEADER);
      if (!res.body)
        throw new ConsulUnavailableError(
          `Consul at ${connection.display} answers but its cluster has no leader; reads wait until one is elected`,
          res.status,
        );
    },
    options.availability ?? {},
    connection.display,
    connection.logger,
  );
  const hub = new WatchHub(
    http,
    { ...DEFAULT_ENGINE, ...options.watch },
    connection.logger,
    monitor,
  );
  const watches = new Set<Watch>();
  const configs = new Set<LiveConfig<unknown>>();
  const registrations = new Set<ServiceRegistration>();
  const registering = new Set<Promise<ServiceRegistration>>();
  const registerFlow = async (
    options: ServiceRegistrationOptions,
  ): Promise<ServiceRegistration> => {
    const live = await registerService(http, options, connection.logger);
    if (closed) {
      // close() ran while the agent was answering.
      await live.stop().catch(() => {});
      throw new ClientClosedError(
        `register ${JSON.stringify(options.name)}`,
        'was closed while registering, so the service was deregistered',
      );
    }
    // Kept until its deregister is done, so close() also waits for one stopped just before.
    const handle: ServiceRegistration = {
      id: live.id,
      checkId: live.checkId,
      report: live.report,
      stop: () => live.stop().finally(() => registrations.delete(handle)),
    };
    registrations.add(handle);
    return handle;
  };
  let closed = false;
  /** The npm `consul` client, made at the first use of `client.api`. */
  let api: ApiClient | undefined;
  const stopMetrics = recordMetrics({
    watches: () => hub.all(),
    configSources: () => [...configs].map((c) => c.source),
  });
  const sessions = new Set<ConsulSession>();
  const holds = new Set<ConsulLock | ConsulSemaphore>();
  const elections = new Set<LeaderElection>();
  const open = (what: string) => {
    if (closed) throw new ClientClosedError(what);
  };
  const newLock = (key: string, options: LockOptions = {}) => {
    open(`lock ${JSON.stringify(key)}`);
    validateKey(key);
    checkCallOptions(options, HOLD_OPTIONS, HOLD_NUMBERS, `lock ${JSON.stringify(key)}`);
    checkHoldOptions(options, `lock ${JSON.stringify(key)}`);
    const lock = new KvLock(
      http,
      key,
      connection.prefix + key,
      options,
      connection.logger,
      monitor,
    );
    holds.add(lock);
    return lock;
  };
  const client: ConsulWatch = {
    kv: new KvClient(http),
    address: connection.display,
    get activeQueries() {
      return hub.size;
    },
    get availability() {
      return monitor.status;
    },
    get api() {
      open('client.api');
      api ??= apiClient(connection);
      return api.api;
    },
    watchReport() {
      return [...hub.all()].map((w) => {
        const status = w.status;
        return {
          type: w.name,
          watch: w.description,
          state: status.state,
          since: status.since.toISOString(),
          stalenessMs: Math.round(w.stalenessMs),
        };
      });
    },
    watch(request, onChange) {
      open('watch');
      if (request === null || typeof request !== 'object')
        throw new InvalidInputError(
          'watch needs a spec object such as { type: "keyprefix", prefix: "app/" }',
        );
      const type = (request as { type?: unknown }).type;
      // An unknown type is the watch hub's to name; the parameters of a known one are checked here.
      if (typeof type === 'string' && Object.hasOwn(watchTypes, type))
        checkOptionNames(
          request,
          [
            'type',
            'initial',
            // Taken by the catalog and health types; the hub names the types that refuse it.
            'filter',
            ...WATCH_SETTINGS,
            ...ENGINE_KEYS,
            ...watchTypes[type as keyof typeof watchTypes].params,
          ],
          `watch ${type}`,
        );
      const { initial, ...rest } = request as WatchRequest;
      const engine: EngineOptions = {};
      const spec: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(rest)) {
        if (ENGINE_KEYS.includes(k)) (engine as Record<string, unknown>)[k] = v;
        else spec[k] = v;
      }
      checkEngine(engine, `watch ${String((spec as { type?: unknown }).type)}`);
      const { shared, release } = hub.acquire(spec as unknown as WatchSpec, engine);
      const watch: Watch = new Watch(
        shared,
        async () => {
          watches.delete(watch);
          await release();
        },
        initial === undefined ? {} : { initial },
        connection.logger,
        onChange as never,
        unheard,
      );
      watches.add(watch);
      return watch as never;
    },
    liveConfig<T>(liveOptions: LiveConfigOptions<T>) {
      const config: LiveConfig<T> = new LiveConfig<T>(
        (spec, onChange) => client.watch(spec as WatchRequest, onChange as never) as never,
        liveOptions,
        connection.logger,
        unheard,
        (): void => void configs.delete(config as LiveConfig<unknown>),
        async (folder) => (await client.kv.keys(folder, { separator: '/' })).length > 0,
      );
      configs.add(config as LiveConfig<unknown>);
      return config;
    },
    register(registration) {
      if (closed) return Promise.reject(new ClientClosedError('register'));
      // close() waits for registrations on their way, so none is left beating after it.
      const flow = registerFlow(registration);
      registering.add(flow);
      const done = () => registering.delete(flow);
      flow.then(done, done);
      return flow;
    },
    async session(options = {}) {
      open('session');
      checkCallOptions(options, SESSION_OPTIONS, SESSION_NUMBERS, 'session');
      checkSessionOptions(options, 'session');
      const session = await openSession(http, options, connection.logger);
      const destroy = session.destroy.bind(session);
      const tracked: ConsulSession = {
        id: session.id,
        ttlMs: session.ttlMs,
        signal: session.signal,
        destroy: () => destroy().finally(() => sessions.delete(tracked)),
      };
      sessions.add(tracked);
      return tracked;
    },
    lock: newLock,
    semaphore(prefix, limit, options = {}) {
      const what = `semaphore ${JSON.stringify(prefix)}`;
      open(what);
      validateKey(prefix, 'prefix');
      if (prefix.replace(/\/+$/, '') === '')
        throw new InvalidInputError(`${what}: needs a prefix of its own, such as 'jobs/workers'`);
      if (!Number.isInteger(limit) || limit < 1)
        throw new InvalidInputError(
          `${what}: limit must be a whole number of holders, 1 or more, got ${describeValue(limit)}`,
        );
      checkCallOptions(options, HOLD_OPTIONS, HOLD_NUMBERS, what);
      checkHoldOptions(options, what);
      const semaphore = new KvSemaphore(
        http,
        prefix,
        connection.prefix + prefix,
        limit,
        options,
        connection.logger,
        monitor,
      );
      holds.add(semaphore);
      return semaphore;
    },
    leader(key, options = {}) {
      checkCallOptions(
        options,
        [...HOLD_OPTIONS, ...LEADER_CALLBACKS],
        HOLD_NUMBERS,
        `leader ${JSON.stringify(key)}`,
      );
      const { onElected, onDemoted, ...lockOptions } = options;
      for (const [name, fn] of Object.entries({ onElected, onDemoted }))
        if (fn !== undefined && typeof fn !== 'function')
          throw new InvalidInputError(`leader ${JSON.stringify(key)}: ${name} must be a function`);
      const election = new LeaderElection(
        newLock(key, withLeaderValue(lockOptions)),
        { ...(onElected ? { onElected } : {}), ...(onDemoted ? { onDemoted } : {}) },
        connection.logger,
      );
      elections.add(election);
      return election;
    },
    async ping(timeoutMs = 5_000) {
      checkNumberTypes({ timeoutMs }, ['timeoutMs'], 'ping');
      const started = performance.now();
      const res = await http.request<string>('ping', { timeoutMs, idempotent: true }, LEADER);
      return { leader: res.body ?? '', latencyMs: performance.now() - started };
    },
    async stopWatches() {
      await Promise.all([...configs].map((c) => c.close()));
      await Promise.all([...watches].map((w) => w.stop()));
    },
    async close() {
      closed = true;
      await Promise.allSettled([...elections].map((e) => e.close()));
      await Promise.allSettled([...holds].map((h) => h.close()));
      await Promise.allSettled([...sessions].map((s) => s.destroy()));
      await Promise.allSettled([...registering]);
      await Promise.allSettled([...registrations].map((r) => r.stop()));
      await Promise.all([...configs].map((c) => c.close()));
      await Promise.all([...watches].map((w) => w.stop()));
      await hub.close();
      stopMetrics();
      await monitor.close();
      api?.close();
      await http.close();
    },
  };
  return client;
}

/** Refuses availability settings that would probe in a tight loop or never, naming the option. */
function checkAvailability(options: AvailabilityOptions): void {
  if (options === null || typeof options !== 'object')
    throw new InvalidInputError(
      'availability must be an object such as { probeMaxMs: 1000, releaseSpreadMs: 100 }',
    );
  const limits: Record<keyof AvailabilityOptions, [number, number]> = {
    probeMinMs: [1, 60_000],
    probeMaxMs: [1, 10 * 60_000],
    probeTimeoutMs: [1, 10 * 60_000],
    releaseSpreadMs: [0, 60_000],
  };
  for (const [name, [min, max]] of Object.entries(limits)) {
    const value = (options as Record<string, unknown>)[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max)
      throw new InvalidInputError(
        `availability.${name} must be a number of milliseconds from ${min} to ${max}, got ${describeValue(value)} (default ${DEFAULT_AVAILABILITY[name as keyof AvailabilityOptions]})`,
      );
  }
}
