import {
  type ConsulWatch,
  type ConsulWatchOptions,
  InvalidInputError,
  type Logger,
  silentLogger,
} from '@consul-watch/core';
import {
  checkOptionNames,
  describeValue,
  resolveConnection,
  validateKey,
} from '@consul-watch/core/internal';

export interface ConsulFlagProviderOptions {
  /**
   * Where the flags are, in order; later ones win per flag key. A key (`flags/shared.json`,
   * `flags/app.yaml`) holds one flagd flag-definition document; a prefix (ends with `/`) holds
   * one flag per key and a `$evaluators` key.
   */
  sources: string[];
  /** A client to share (its watches are shared with its other subscribers); it is not closed by the provider. */
  client?: ConsulWatch;
  /** Connection options of a client of the provider's own; default from CONSUL_HTTP_ADDR etc. */
  connection?: ConsulWatchOptions;
  /** Keep the last good flags here (written atomically) and start on them when Consul cannot be reached. */
  lastKnownGoodFile?: string;
  /** Where the provider says what it does and what it refused. Silent by default. */
  logger?: Logger;
  /** How long initialization waits for every source (or the last-known-good file), ms. Default 5 000. */
  readyTimeoutMs?: number;
}

/** Defaults, stated once. */
export const DEFAULT_READY_TIMEOUT_MS = 5_000;

const KNOWN = [
  'sources',
  'client',
  'connection',
  'lastKnownGoodFile',
  'logger',
  'readyTimeoutMs',
] as const;

const WHERE = 'ConsulFlagProvider';

export interface CheckedOptions {
  sources: string[];
  client: ConsulWatch | undefined;
  connection: ConsulWatchOptions;
  lastKnownGoodFile: string | undefined;
  logger: Logger;
  readyTimeoutMs: number;
}

const hasMethods = (value: unknown, names: string[]): boolean =>
  typeof value === 'object' &&
  value !== null &&
  names.every((n) => typeof (value as Record<string, unknown>)[n] === 'function');

const shown = (value: unknown): string =>
  typeof value === 'string' ? JSON.stringify(value) : describeValue(value);

/** Checks every option before anything starts, naming the provider's own options. */
export function checkProviderOptions(options: ConsulFlagProviderOptions): CheckedOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new InvalidInputError(
      `${WHERE} needs an options object such as { sources: ['flags/shared.json', 'flags/my-app/'] }, got ${describeValue(options)}`,
    );
  checkOptionNames(options, KNOWN, WHERE);
  const { sources, client, connection, lastKnownGoodFile, logger, readyTimeoutMs } = options;
  if (!Array.isArray(sources) || sources.length === 0)
    throw new InvalidInputError(
      `${WHERE} sources must be a non-empty array of Consul keys and prefixes, such as ['flags/shared.json', 'flags/my-app/'], got ${Array.isArray(sources) ? 'an empty array' : shown(sources)}`,
    );
  const seen = new Set<string>();
  for (const [i, source] of sources.entries()) {
    if (typeof source !== 'string' || source === '' || source === '/')
      throw new InvalidInputError(
        `${WHERE} sources[${i}] must be a Consul key ('flags/shared.json') or a prefix ending with '/' ('flags/my-app/'), got ${shown(source)}`,
      );
    try {
      validateKey(source, source.endsWith('/') ? 'prefix' : 'key');
    } catch (error) {
      throw new InvalidInputError(`${WHERE} sources[${i}]: ${(error as Error).message}`);
    }
    const extension = /\.([^./]+)$/.exec(source)?.[1]?.toLowerCase();
    if (!source.endsWith('/') && extension && !['json', 'yaml', 'yml'].includes(extension))
      throw new InvalidInputError(
        `${WHERE} sources[${i}] ${JSON.stringify(source)}: a key holds a flagd document as JSON (.json, or no extension) or YAML (.yaml, .yml), not .${extension}; for a prefix end it with '/'`,
      );
    if (seen.has(source))
      throw new InvalidInputError(
        `${WHERE} sources lists ${JSON.stringify(source)} twice; give each key or prefix once`,
      );
    seen.add(source);
  }
  if (client !== undefined && !hasMethods(client, ['watch', 'close']))
    throw new InvalidInputError(
      `${WHERE} client must be a ConsulWatch from createConsulWatch(), got ${describeValue(client)}; or leave it out and give connection options`,
    );
  if (client !== undefined && connection !== undefined)
    throw new InvalidInputError(
      `${WHERE} takes client or connection, not both: the connection options would be ignored; drop one`,
    );
  if (connection !== undefined) {
    if (connection === null || typeof connection !== 'object' || Array.isArray(connection))
      throw new InvalidInputError(
        `${WHERE} connection must be an object of connection options such as { address: '127.0.0.1:8500' }, got ${describeValue(connection)}`,
      );
    try {
      resolveConnection(connection);
    } catch (error) {
      throw new InvalidInputError(`${WHERE} connection: ${(error as Error).message}`);
    }
  }
  if (
    lastKnownGoodFile !== undefined &&
    (typeof lastKnownGoodFile !== 'string' || lastKnownGoodFile === '')
  )
    throw new InvalidInputError(
      `${WHERE} lastKnownGoodFile must be a file path, got ${shown(lastKnownGoodFile)}`,
    );
  if (logger !== undefined && !hasMethods(logger, ['debug', 'info', 'warn', 'error']))
    throw new InvalidInputError(
      `${WHERE} logger must have debug, info, warn and error methods (console works), got ${describeValue(logger)}`,
    );
  const timeout = readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0)
    throw new InvalidInputError(
      `${WHERE} readyTimeoutMs must be a positive number of milliseconds (default ${DEFAULT_READY_TIMEOUT_MS}), got ${shown(timeout)}`,
    );
  const log = logger ?? silentLogger;
  return {
    sources: [...sources],
    client,
    // The provider's logger also speaks for a client of its own, unless the connection names one.
    connection: { ...(logger ? { logger } : {}), ...connection },
    lastKnownGoodFile,
    logger: log,
    readyTimeoutMs: timeout,
  };
}
