import {
  type ConsulWatchError,
  createConsulWatch,
  type KvEntry,
  silentLogger,
  TimeoutError,
  type WatchStatus,
} from '@consul-watch/core';
import { checkNumberTypes } from '@consul-watch/core/internal';
import {
  applyValues,
  type ConsulEnvOptions,
  checkOptions,
  computeValues,
  normalisePrefix,
  saveLastKnownGood,
} from './consulEnv';

export interface EnvChange {
  /** Variables set to a new value. */
  changed: string[];
  /** Variables removed because their key was deleted. */
  removed: string[];
  /** Every variable the prefix (and `.env`) define now. */
  values: Record<string, string>;
}

export interface ConsulEnvWatch {
  /** Resolves once the environment holds the first values from Consul. */
  ready(timeoutMs?: number): Promise<Record<string, string>>;
  on(event: 'change', listener: (change: EnvChange) => void): this;
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

/**
 * Keeps the environment current with a Consul prefix, as envconsul does: changed keys update
 * their variables, deleted keys remove them — except variables that were set before loading,
 * which are the environment's own and stay as they were (unless `override`).
 */
export function watchConsulEnv(options: ConsulEnvOptions): ConsulEnvWatch {
  checkOptions(options, 'watchConsulEnv');
  const prefix = normalisePrefix(options.prefix);
  const env = options.env ?? process.env;
  const logger = options.logger ?? silentLogger;
  const override = options.override ?? false;
  const before = new Set(Object.keys(env).filter((k) => env[k] !== undefined));
  const original = Object.fromEntries([...before].map((k) => [k, env[k]]));
  const client = options.client ?? createConsulWatch(options.connection);
  const changeListeners = new Set<(change: EnvChange) => void>();
  const errorListeners = new Set<(error: ConsulWatchError) => void>();
  const recoveredListeners = new Set<(info: { downMs: number }) => void>();
  let current: Record<string, string> = {};
  let first = true;
  let firstApplied!: () => void;
  const applied = new Promise<void>((resolve) => {
    firstApplied = resolve;
  });

  const watch = client.watch({ type: 'keyprefix', prefix }, (change) => {
    let next: Record<string, string>;
    try {
      next = computeValues(change.entries.values() as Iterable<KvEntry>, prefix, options, original);
    } catch (error) {
      // A collision or a value no variable can hold: keep the environment as it is, and say why.
      for (const l of errorListeners) l(error as ConsulWatchError);
      if (errorListeners.size === 0) logger.warn((error as Error).message);
      return;
    }
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
    if (options.lastKnownGoodFile)
      void saveLastKnownGood(options.lastKnownGoodFile, [...change.entries.values()], logger);
    if (first) {
      first = false;
      firstApplied();
      return;
    }
    if (changed.length + removed.length === 0) return;
    for (const l of changeListeners) l({ changed, removed, values: next });
  });
  watch.on('error', (error) => {
    for (const l of errorListeners) l(error);
    if (errorListeners.size === 0) logger.warn(error.message);
  });
  watch.on('recovered', (info) => {
    for (const l of recoveredListeners) l(info);
    if (recoveredListeners.size === 0)
      logger.info(
        `Consul answers again after ${(info.downMs / 1000).toFixed(1)} s; the environment is current`,
      );
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
          const why = watch.lastError ? `: ${watch.lastError.message}` : '';
          reject(
            new TimeoutError(
              `environment from Consul prefix ${JSON.stringify(prefix)} not loaded within ${timeoutMs} ms${why}`,
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
    on(event: 'change' | 'error' | 'recovered', listener: never) {
      if (event === 'change') changeListeners.add(listener);
      else if (event === 'recovered') recoveredListeners.add(listener);
      else errorListeners.add(listener);
      return handle;
    },
    get status() {
      return watch.status;
    },
    get values() {
      return current;
    },
    async stop() {
      await watch.stop();
      if (!options.client) await client.close();
    },
  };
  return handle;
}
