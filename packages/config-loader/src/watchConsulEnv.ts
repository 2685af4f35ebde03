import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ConsulWatchError,
  createConsulWatch,
  HandlerError,
  InvalidInputError,
  type KvEntry,
  LockLostError,
  silentLogger,
  TimeoutError,
  type WatchStatus,
} from '@consul-watch/core';
import {
  checkNumberTypes,
  checkOptionNames,
  checkSettle,
  Settle,
  type SettleOptions,
} from '@consul-watch/core/internal';
import {
  applyValues,
  type ConsulEnvOptions,
  checkOptions,
  computeValues,
  describePrefixes,
  ENV_OPTIONS,
  normalisePrefixes,
  saveLastKnownGood,
  uniqueEntries,
} from './consulEnv';
import { checkReadyUrl, type ReadyCheck, waitUntilReady } from './programReady';
import { parseMaxRestarting, RollingSlot, type Slot } from './rollingSlot';

export interface EnvChange {
  /** Variables set to a new value. */
  changed: string[];
  /** Variables removed because their key was deleted. */
  removed: string[];
  /** Every variable the prefix (and `.env`) define now. */
  values: Record<string, string>;
}

export interface RollingOptions {
  /** KV prefix of the roll-out semaphore (HashiCorp's `api.Semaphore` layout), shared by the fleet. */
  key: string;
  /** How many instances restart at once: a number (2), or a share of the contenders ('25%'). */
  maxRestarting: number | string;
  /** TTL of the session that holds this instance's slot, ms. Default 15 000 (core's). */
  sessionTtlMs?: number;
}

export interface WatchConsulEnvOptions extends ConsulEnvOptions {
  /** Apply a burst of changes once, when quiet for `minMs` or `maxMs` after its first change. */
  settle?: SettleOptions;
  /** A random delay from 0 to this before each restart, ms. Default 0. */
  splayMs?: number;
  /** Take a slot of a Consul semaphore before each restart; give it back once ready. */
  rolling?: RollingOptions;
  /** After a restart, ready once this URL answers 2xx (polled). */
  readyUrl?: string;
  /** Without `readyUrl`: ready once the restarted program has run this long, ms. Default 1000. */
  readyAfterMs?: number;
  /** With `readyUrl`: a restart fails (loudly, its slot released) without a 2xx within this, ms. Default 60 000. */
  readyTimeoutMs?: number;
}

/** Where a restart stands; `watchConsulEnv` emits each step as a `rollout` event. */
export type RolloutStep =
  /** A change is due; no restart before a slot of `key` is free. */
  | { step: 'waiting'; key: string }
  /** The environment is updated and the `change` listeners are restarting the program. */
  | { step: 'restarting'; changed: string[]; removed: string[]; waitedMs: number }
  /** The restarted program is ready (`readyUrl` or `readyAfterMs`); the slot is given back. */
  | { step: 'ready'; afterMs: number }
  /** The restarted program was not ready in time, or a listener failed; the slot is given back. */
  | { step: 'failed'; error: ConsulWatchError }
  /** The slot's session was lost mid-restart: Consul freed the slot; the restart goes on. */
  | { step: 'slot-lost'; error: LockLostError };

export interface ConsulEnvWatch {
  /** Resolves once the environment holds the first values from Consul. */
  ready(timeoutMs?: number): Promise<Record<string, string>>;
  /**
   * After the environment changed (settled, splayed, and with `rolling` once a slot is held).
   * A listener that restarts something returns a promise: the slot is kept until it resolves
   * and the program is ready.
   */
  on(event: 'change', listener: (change: EnvChange) => unknown): this;
  /** Each step of a restart: waiting for a slot, restarting, ready, failed, slot lost. */
  on(event: 'rollout', listener: (step: RolloutStep) => void): this;
  /** Once when Consul becomes unreachable (or refuses), not once per retry. */
  on(event: 'error', listener: (error: ConsulWatchError) => void): this;
  /** Consul answers again after a spell of errors; the environment is current again. */
  on(event: 'recovered', listener: (info: { downMs: number }) => void): this;
  /** Where the watch of the prefix stands with Consul: `connected`, `unavailable`…, since when, the last error. */
  readonly status: WatchStatus;
  /** The variables it set, now. */
  readonly values: Record<string, string>;
  stop(): Promise<void>;
}

const WATCH_OPTIONS = [
  ...ENV_OPTIONS,
  'settle',
  'splayMs',
  'rolling',
  'readyUrl',
  'readyAfterMs',
  'readyTimeoutMs',
];
const ROLLING_OPTIONS = ['key', 'maxRestarting', 'sessionTtlMs'];

/** How messages name the restart options: the API's, or the CLI's flags. */
export interface RestartOptionNames {
  maxRestarting: string;
  readyUrl: string;
  readyTimeout: string;
}
const API_NAMES: RestartOptionNames = {
  maxRestarting: 'rolling.maxRestarting',
  readyUrl: 'readyUrl',
  readyTimeout: 'readyTimeoutMs',
};

/** Milliseconds from `min` to one hour, whole; `fallback` when absent. */
function checkMs(value: unknown, name: string, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= 3_600_000)
    return value;
  throw new InvalidInputError(
    `${name} must be a whole number of milliseconds from ${min} to 3600000, got ${JSON.stringify(value)}`,
  );
}

/** The restart options, checked: what a change goes through before it is applied. */
function checkRestartOptions(options: WatchConsulEnvOptions) {
  const settle = checkSettle(options.settle, 'watchConsulEnv settle');
  const splayMs = checkMs(options.splayMs, 'watchConsulEnv splayMs', 0, 0);
  const { rolling } = options;
  if (rolling !== undefined) {
    if (rolling === null || typeof rolling !== 'object')
      throw new InvalidInputError(
        `watchConsulEnv rolling must be an object such as { key: 'rollout/my-app', maxRestarting: 2 }, got ${JSON.stringify(rolling)}`,
      );
    checkOptionNames(rolling, ROLLING_OPTIONS, 'watchConsulEnv rolling');
    if (typeof rolling.key !== 'string' || rolling.key.replace(/\/+$/, '') === '')
      throw new InvalidInputError(
        `watchConsulEnv rolling.key must be the KV prefix of the roll-out semaphore, such as 'rollout/my-app', got ${JSON.stringify(rolling.key)}`,
      );
    checkMs(rolling.sessionTtlMs, 'watchConsulEnv rolling.sessionTtlMs', 10, 15_000);
  }
  const max =
    rolling && parseMaxRestarting(rolling.maxRestarting, 'watchConsulEnv rolling.maxRestarting');
  const url = checkReadyUrl(options.readyUrl, 'watchConsulEnv readyUrl');
  const ready: ReadyCheck = {
    ...(url ? { url } : {}),
    afterMs: checkMs(options.readyAfterMs, 'watchConsulEnv readyAfterMs', 0, 1_000),
    timeoutMs: checkMs(options.readyTimeoutMs, 'watchConsulEnv readyTimeoutMs', 1, 60_000),
  };
  return { settle, splayMs, max, ready, checkReady: rolling !== undefined || url !== undefined };
}

/**
 * Keeps the environment current with one or more Consul prefixes, as envconsul does: changed
 * keys update their variables, deleted keys remove them — except variables that were set
 * before loading, which are the environment's own and stay as they were (unless `override`).
 * With `settle`, `splayMs` and `rolling` a change reaches a fleet of instances as a roll-out.
 */
export function watchConsulEnv(options: WatchConsulEnvOptions): ConsulEnvWatch {
  return watchEnv(options, API_NAMES);
}

/** watchConsulEnv, its messages naming the options as `names` says (the CLI's flags). */
export function watchEnv(
  options: WatchConsulEnvOptions,
  names: RestartOptionNames,
): ConsulEnvWatch {
  checkOptions(options, 'watchConsulEnv', WATCH_OPTIONS);
  const prefixes = normalisePrefixes(options.prefix);
  const restart = checkRestartOptions(options);
  const env = options.env ?? process.env;
  const logger = options.logger ?? silentLogger;
  const override = options.override ?? false;
  const before = new Set(Object.keys(env).filter((k) => env[k] !== undefined));
  const original = Object.fromEntries([...before].map((k) => [k, env[k]]));
  const client = options.client ?? createConsulWatch(options.connection);
  const changeListeners = new Set<(change: EnvChange) => unknown>();
  const stepListeners = new Set<(step: RolloutStep) => void>();
  const errorListeners = new Set<(error: ConsulWatchError) => void>();
  const recoveredListeners = new Set<(info: { downMs: number }) => void>();
  const stopping = new AbortController();
  const slots =
    options.rolling && restart.max
      ? new RollingSlot(client, options.rolling.key, restart.max, {
          logger,
          maxName: names.maxRestarting,
          ...(options.rolling.sessionTtlMs === undefined
            ? {}
            : { sessionTtlMs: options.rolling.sessionTtlMs }),
        })
      : undefined;
  /** Each prefix's latest entries, in the prefixes' order; undefined until it answered. */
  const answered: (KvEntry[] | undefined)[] = prefixes.map(() => undefined);
  let current: Record<string, string> = {};
  /** The values Consul holds now, applied or not. */
  let latest: Record<string, string> | undefined;
  let firstApplied!: () => void;
  const applied = new Promise<void>((resolve) => {
    firstApplied = resolve;
  });
  let cycle: Promise<void> | undefined;
  let again = false;

  const report = (error: ConsulWatchError) => {
    for (const l of errorListeners) l(error);
    if (errorListeners.size === 0) logger.warn(error.message);
  };
  const emitStep = (step: RolloutStep) => {
    for (const l of stepListeners) {
      try {
        l(step);
      } catch (error) {
        // A listener's failure is reported, never the roll-out's end.
        report(new HandlerError(`rollout listener failed: ${(error as Error)?.message ?? error}`));
      }
    }
  };

  /** Sets the variables to `next`; what changed. */
  const apply = (next: Record<string, string>) => {
    const changed = applyValues(next, env, override, before);
    const removed: string[] = [];
    for (const name of Object.keys(current)) {
      if (name in next) continue;
      if (before.has(name)) {
        if (override) env[name] = original[name];
        continue;
      }
      delete env[name];
      removed.push(name);
    }
    current = next;
    return { changed, removed };
  };
  /** Whether applying `next` would change a variable. */
  const differs = (next: Record<string, string>) =>
    Object.keys(current).some((name) => !(name in next)) ||
    Object.entries(next).some(([name, value]) => current[name] !== value);

  /** One restart: splay, a slot, the new environment, the listeners, readiness, the slot back. */
  const restartOnce = async () => {
    const signal = stopping.signal;
    if (!latest || !differs(latest)) return;
    const due = performance.now();
    if (restart.splayMs > 0) await sleep(Math.random() * restart.splayMs, undefined, { signal });
    let slot: Slot | undefined;
    if (slots) {
      emitStep({ step: 'waiting', key: options.rolling!.key });
      // A slot lost before anything was stopped is no slot: wait for another.
      do slot = await slots.acquire(signal);
      while (slot.signal.aborted);
    }
    const onLost = () => {
      const error = slot!.signal.reason;
      emitStep({
        step: 'slot-lost',
        error:
          error instanceof LockLostError
            ? error
            : new LockLostError(String(error), 'session-invalidated'),
      });
    };
    slot?.signal.addEventListener('abort', onLost, { once: true });
    try {
      // The values as they are now: changes that came while waiting ride along.
      const values = latest;
      const { changed, removed } = apply(values);
      if (changed.length + removed.length === 0) return;
      emitStep({
        step: 'restarting',
        changed,
        removed,
        waitedMs: Math.round(performance.now() - due),
      });
      const failures = await Promise.allSettled(
        [...changeListeners].map(async (l) => l({ changed, removed, values })),
      );
      const failed = failures.find((f) => f.status === 'rejected');
      if (failed) {
        const cause = (failed as PromiseRejectedResult).reason;
        throw new HandlerError(`change listener failed: ${(cause as Error)?.message ?? cause}`, {
          cause,
        });
      }
      if (!restart.checkReady) return;
      const afterMs = await waitUntilReady(
        restart.ready,
        { url: names.readyUrl, timeout: names.readyTimeout },
        signal,
      );
      emitStep({ step: 'ready', afterMs });
    } catch (error) {
      if (signal.aborted) throw error;
      const failure =
        error instanceof HandlerError || error instanceof TimeoutError
          ? error
          : new HandlerError(String(error), { cause: error });
      emitStep({ step: 'failed', error: failure });
      report(failure);
    } finally {
      slot?.signal.removeEventListener('abort', onLost);
      if (slot) await slots!.release();
    }
  };

  /** Runs restarts one at a time; a change during one is applied by the next. */
  const schedule = () => {
    if (cycle) {
      again = true;
      return;
    }
    cycle = (async () => {
      do {
        again = false;
        await restartOnce();
      } while (again && !stopping.signal.aborted);
    })()
      .catch((error) => {
        if (!stopping.signal.aborted) report(error as ConsulWatchError);
      })
      .finally(() => {
        cycle = undefined;
      });
  };
  const settle = restart.settle ? new Settle(restart.settle, schedule) : undefined;

  const onAnswer = () => {
    if (answered.some((a) => a === undefined)) return;
    let next: Record<string, string>;
    try {
      next = computeValues(
        prefixes.map((p, i) => [p, answered[i]!] as const),
        options,
        original,
      );
    } catch (error) {
      // A collision or a value no variable can hold: keep the environment as it is, and say why.
      report(error as ConsulWatchError);
      return;
    }
    if (options.lastKnownGoodFile)
      void saveLastKnownGood(
        options.lastKnownGoodFile,
        uniqueEntries(answered as KvEntry[][]),
        logger,
      );
    const first = latest === undefined;
    latest = next;
    if (first) {
      apply(next);
      firstApplied();
      return;
    }
    if (!differs(next)) {
      // Back to what is applied within a burst: nothing to restart for.
      settle?.cancel();
      return;
    }
    if (settle) settle.change();
    else schedule();
  };

  const watches = prefixes.map((prefix, i) => {
    const watch = client.watch({ type: 'keyprefix', prefix }, (change) => {
      answered[i] = [...change.entries.values()] as KvEntry[];
      onAnswer();
    });
    watch.on('error', report);
    watch.on('recovered', (info) => {
      for (const l of recoveredListeners) l(info);
      if (recoveredListeners.size === 0)
        logger.info(
          `Consul answers again after ${(info.downMs / 1000).toFixed(1)} s; the environment is current`,
        );
    });
    return watch;
  });
  // Seated before any change, so a percentage counts this instance from the start.
  if (slots)
    slots.join(stopping.signal).catch((error) => {
      if (!stopping.signal.aborted) report(error as ConsulWatchError);
    });

  const handle: ConsulEnvWatch = {
    async ready(timeoutMs) {
      checkNumberTypes({ timeoutMs }, ['timeoutMs'], 'watchConsulEnv ready()');
      if (timeoutMs === undefined) {
        await applied;
        return current;
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const lastError = watches.find((w) => w.lastError)?.lastError;
          const why = lastError ? `: ${lastError.message}` : '';
          reject(
            new TimeoutError(
              `environment from Consul prefix ${describePrefixes(prefixes)} not loaded within ${timeoutMs} ms${why}`,
            ),
          );
        }, timeoutMs);
      });
      try {
        await Promise.race([applied, timeout]);
      } finally {
        clearTimeout(timer);
      }
      return current;
    },
    on(event: 'change' | 'rollout' | 'error' | 'recovered', listener: never) {
      if (event === 'change') changeListeners.add(listener);
      else if (event === 'rollout') stepListeners.add(listener);
      else if (event === 'recovered') recoveredListeners.add(listener);
      else errorListeners.add(listener);
      return handle;
    },
    get status() {
      const all = watches.map((w) => w.status);
      return all.find((s) => s.state !== 'connected') ?? all[0]!;
    },
    get values() {
      return current;
    },
    async stop() {
      settle?.cancel();
      stopping.abort(new InvalidInputError('watchConsulEnv stopped'));
      await cycle;
      await Promise.all(watches.map((w) => w.stop()));
      await slots?.close();
      if (!options.client) await client.close();
    },
  };
  return handle;
}
