import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { ConfigLayer, TreeFormat } from './configLayer';
import {
  type ConsulWatch,
  type ConsulWatchOptions,
  checkClientOptionNames,
  createConsulWatch,
} from './consulWatch';
import { InvalidInputError } from './errors';
import type { LiveConfig } from './liveConfig';
import { describeValue } from './messageText';
import { checkOptionNames, namesOf } from './optionNames';
import { checkNumberTypes } from './optionValues';
import { checkSettle, type SettleOptions } from './settle';

/**
 * What the web adapters (Express middleware, Fastify plugin) take to find their live config:
 * one they are given, or one they make on a given client or on a client of their own.
 */
export interface ConfigSourceOptions<T> {
  /** A live config the application already has; the adapter only reads it. */
  config?: LiveConfig<T>;
  /** Otherwise one is made from the options below, on `client` or on a client made from `connection`. */
  client?: ConsulWatch;
  /** Connection (and watch engine) options for a client of the adapter's own. */
  connection?: ConsulWatchOptions;
  /** Layers in order; later ones win, key by key (as in `client.liveConfig()`). */
  layers?: ConfigLayer[];
  format?: TreeFormat;
  schema?: StandardSchemaV1<unknown, T>;
  lastKnownGoodFile?: string;
  /** Apply a burst of changes once it settles (as `client.liveConfig()`'s `settle`). */
  settle?: SettleOptions;
  /**
   * Before the first config has arrived: 0 (default) answers 503 at once; a positive number
   * holds the request up to that many milliseconds, then answers 503.
   */
  waitForReadyMs?: number;
}

export interface ConfigSource<T> {
  readonly live: LiveConfig<T>;
  /** The client the live config runs on, when the adapter knows it (given or its own). */
  readonly client: ConsulWatch | undefined;
  /**
   * A request's way before the first config (its fast path is `live.snapshot`): `use` gets the
   * config once it arrives within `waitForReadyMs`; otherwise `refuse` gets the body of the 503
   * to answer with `Retry-After`, at once when `waitForReadyMs` is 0.
   */
  awaitFirst(use: (config: T) => void, refuse: (body: NotReadyBody) => void): void;
  /** Stops what was made here (the live config, the own client); what was given keeps running. */
  close(): Promise<void>;
}

export interface NotReadyBody {
  error: 'config_not_ready';
  message: string;
}

/** The body of a 503 answered before the first config, the same from every adapter. */
function notReadyBody(detail?: string): NotReadyBody {
  return {
    error: 'config_not_ready',
    message: `The configuration from Consul is not loaded yet${detail ? ` (${detail})` : ''}; retry shortly.`,
  };
}

const SOURCE_OPTIONS = namesOf<ConfigSourceOptions<unknown>>({
  config: true,
  client: true,
  connection: true,
  layers: true,
  format: true,
  schema: true,
  lastKnownGoodFile: true,
  waitForReadyMs: true,
  settle: true,
});

const hasMethods = (value: unknown, ...names: string[]): boolean =>
  typeof value === 'object' &&
  value !== null &&
  names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');

function firstOf<T>(live: LiveConfig<T>, waitMs: number): ConfigSource<T>['awaitFirst'] {
  return (use, refuse) => {
    const now = live.snapshot;
    if (now !== undefined) use(now);
    else if (waitMs === 0) refuse(notReadyBody());
    else
      live.ready(waitMs).then(use, () => refuse(notReadyBody(`still waiting after ${waitMs} ms`)));
  };
}

/**
 * Checks an adapter's options and opens its live config. Every check runs before anything
 * starts, so a refused option leaves no client or watch behind. `name` is the front door the
 * user called, for the messages; `takesConfig` false for an adapter that refuses `config`
 * itself (its messages then ask for layers only).
 */
export function openConfigSource<T>(
  name: string,
  options: ConfigSourceOptions<T>,
  takesConfig = true,
): ConfigSource<T> {
  const needs = `${name} needs ${takesConfig ? 'either config (a LiveConfig) or layers' : 'layers'}, such as { layers: ["config/my-app/"] }`;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidInputError(
      `${needs}; got ${describeValue(options)} instead of an options object`,
    );
  }
  checkOptionNames(
    options,
    takesConfig ? SOURCE_OPTIONS : SOURCE_OPTIONS.filter((n) => n !== 'config'),
    name,
  );
  checkNumberTypes(options, ['waitForReadyMs'], name);
  if (options.connection !== undefined)
    checkClientOptionNames(options.connection, `${name} connection`);
  if (options.layers !== undefined && !Array.isArray(options.layers))
    throw new InvalidInputError(
      `${name} layers must be an array of layers, such as { layers: ["config/my-app/"] }, got ${describeValue(options.layers)}`,
    );
  const waitMs = options.waitForReadyMs ?? 0;
  if (typeof waitMs !== 'number' || !Number.isFinite(waitMs) || waitMs < 0) {
    throw new InvalidInputError(
      `${name} waitForReadyMs must be 0 or more milliseconds (a finite number), got ${describeValue(waitMs)}`,
    );
  }
  // Checked under the adapter's name; a given config has its own settle.
  const settle = checkSettle(options.settle, `${name} settle`);
  if (settle && options.config)
    throw new InvalidInputError(
      `${name} settle applies to a live config it makes from layers; a given config keeps its own: set settle where that config is made (client.liveConfig({ layers, settle }))`,
    );
  const given = options.client ?? undefined;
  if (given !== undefined && !hasMethods(given, 'liveConfig', 'close')) {
    throw new InvalidInputError(
      `${name} client must be a ConsulWatch from createConsulWatch(), got ${describeValue(given)}; or leave it out and give connection options`,
    );
  }
  if (options.config) {
    if (!hasMethods(options.config, 'ready', 'close', 'on')) {
      throw new InvalidInputError(
        `${name} config must be a LiveConfig (from client.liveConfig() or liveConfig()), got ${describeValue(options.config)}; or give layers instead`,
      );
    }
    const live = options.config;
    return { live, client: given, awaitFirst: firstOf(live, waitMs), close: async () => {} };
  }
  if (!options.layers || options.layers.length === 0) throw new InvalidInputError(needs);
  const own = given ? undefined : createConsulWatch(options.connection);
  const client = given ?? own!;
  let live: LiveConfig<T>;
  try {
    live = client.liveConfig<T>({
      layers: options.layers,
      ...(options.format ? { format: options.format } : {}),
      ...(options.schema ? { schema: options.schema } : {}),
      ...(options.lastKnownGoodFile ? { lastKnownGoodFile: options.lastKnownGoodFile } : {}),
      ...(settle ? { settle } : {}),
    });
  } catch (error) {
    // A layer refused: the client made for it has nothing to serve (and nothing started yet).
    own?.close().catch(() => {});
    throw error;
  }
  return {
    live,
    client,
    awaitFirst: firstOf(live, waitMs),
    async close() {
      await live.close();
      await own?.close();
    },
  };
}
