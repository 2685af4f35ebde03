import {
  type AvailabilityOptions,
  type BackoffOptions,
  type ConsulWatchOptions,
  type EngineOptions,
  InvalidInputError,
  type ServiceRegistrationOptions,
} from '@consul-watch/core';
import { checkOptionNames, checkSettle } from '@consul-watch/core/internal';
import type { ConsulConfigSection, ConsulModuleOptions } from './consul.options';

/**
 * Every name of `T`, listed at run time. `Exact` fails to compile when the list misses one, so
 * a new option of core's is a compile error here rather than a name this module refuses.
 */
type Exact<T, L extends readonly (keyof T)[]> = [Exclude<keyof T, L[number]>] extends [never]
  ? L
  : { missing: Exclude<keyof T, L[number]> };
/** `optionNamesOf<T>()([...])`: the names of `T`, checked complete by the compiler. */
export const optionNamesOf =
  <T>() =>
  <const L extends readonly (keyof T)[]>(list: Exact<T, L>): readonly string[] =>
    list as unknown as readonly string[];

const CORE = optionNamesOf<ConsulWatchOptions>()([
  'address',
  'token',
  'datacenter',
  'secure',
  'verify',
  'ca',
  'cert',
  'key',
  'consistency',
  'prefix',
  'logger',
  'watch',
  'availability',
]);
const MODULE = [
  ...CORE,
  ...optionNamesOf<Omit<ConsulModuleOptions, keyof ConsulWatchOptions>>()([
    'config',
    'register',
    'watchReadyTimeoutMs',
  ]),
];
const CONFIG = optionNamesOf<ConsulConfigSection>()([
  'prefix',
  'layers',
  'format',
  'schema',
  'lastKnownGoodFile',
  'settle',
  'readyTimeoutMs',
  'onUnavailable',
]);
const REGISTER = optionNamesOf<Omit<ServiceRegistrationOptions, 'onError'>>()([
  'name',
  'id',
  'address',
  'port',
  'tags',
  'meta',
  'ttlMs',
  'deregisterCriticalAfterMs',
]);

const WATCH = [
  ...optionNamesOf<EngineOptions>()(['waitMs', 'maxRequestsPerSecond', 'burst', 'backoff']),
  // Left to core, which says what replaced it.
  'minIntervalMs',
];
const BACKOFF = optionNamesOf<BackoffOptions>()(['baseMs', 'maxMs', 'slowMs']);
const AVAILABILITY = optionNamesOf<AvailabilityOptions>()([
  'probeMinMs',
  'probeMaxMs',
  'probeTimeoutMs',
  'releaseSpreadMs',
]);

/** `"3000"` quoted, 3000 bare: a message shows what the user wrote. */
export function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** Refuses anything but a number of milliseconds, 0 or more (a string too: options are typed). */
export function checkMs(value: unknown, name: string, defaultMs: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new InvalidInputError(
      `${name} must be a number of milliseconds, 0 or more (default ${defaultMs}), got ${shown(value)}`,
    );
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * Checks `ConsulModule.forRoot` / `forRootAsync` options where the module starts, naming the
 * module's own options: an unknown or misspelt name, a number given as text, a config
 * section that names nothing to read.
 */
export function checkModuleOptions(options: ConsulModuleOptions): void {
  if (!isObject(options))
    throw new InvalidInputError(
      `ConsulModule options must be an object such as { address: 'http://127.0.0.1:8500' }, got ${shown(options)}`,
    );
  checkOptionNames(options, MODULE, 'ConsulModule');
  checkMs(options.watchReadyTimeoutMs, 'ConsulModule watchReadyTimeoutMs', 10_000);
  // Core checks these objects' values; their names are checked here, under the module's name.
  if (isObject(options.watch)) {
    checkOptionNames(options.watch, WATCH, 'ConsulModule watch');
    if (isObject(options.watch.backoff))
      checkOptionNames(options.watch.backoff, BACKOFF, 'ConsulModule watch.backoff');
  }
  if (isObject(options.availability))
    checkOptionNames(options.availability, AVAILABILITY, 'ConsulModule availability');
  if (options.register !== undefined) {
    if (!isObject(options.register))
      throw new InvalidInputError(
        `ConsulModule register must be an object such as { name: 'my-app' }, got ${shown(options.register)}`,
      );
    checkOptionNames(options.register, REGISTER, 'ConsulModule register');
  }
  const config = options.config;
  if (config === undefined) return;
  if (!isObject(config))
    throw new InvalidInputError(
      `ConsulModule config must be an object such as { prefix: 'config/my-app/' }, got ${shown(config)}`,
    );
  checkOptionNames(config, CONFIG, 'ConsulModule config');
  const { prefix, layers } = config;
  if (
    prefix !== undefined &&
    typeof prefix !== 'string' &&
    !(Array.isArray(prefix) && prefix.every((p) => typeof p === 'string'))
  )
    throw new InvalidInputError(
      `ConsulModule config.prefix must be a folder of keys ('config/my-app/') or a list of them, got ${shown(prefix)}`,
    );
  if (layers !== undefined && !Array.isArray(layers))
    throw new InvalidInputError(
      `ConsulModule config.layers must be a list, such as ['config/shared/', { key: 'config/my-app.yaml' }], got ${shown(layers)}`,
    );
  const count = (prefix === undefined ? 0 : [prefix].flat().length) + (layers?.length ?? 0);
  if (count === 0)
    throw new InvalidInputError(
      "ConsulModule config names nothing to read: give config.prefix (a folder of keys, such as 'config/my-app/') or config.layers",
    );
  checkMs(config.readyTimeoutMs, 'ConsulModule config.readyTimeoutMs', 10_000);
  checkSettle(config.settle, 'ConsulModule config.settle');
  if (
    config.onUnavailable !== undefined &&
    !['fail', 'start'].includes(config.onUnavailable as string)
  )
    throw new InvalidInputError(
      `ConsulModule config.onUnavailable must be 'fail' or 'start', got ${shown(config.onUnavailable)}`,
    );
}
