import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import {
  type ConnectionOptions,
  ConsulUnavailableError,
  type ConsulWatch,
  createConsulWatch,
  InvalidInputError,
  type KvEntry,
  type Logger,
  silentLogger,
} from '@consul-watch/core';
import {
  checkClientOptionNames,
  checkOptionNames,
  namesOf,
  writeFileAtomic,
} from '@consul-watch/core/internal';
import { parseDotenv } from './dotenv';
import { mapEntries, type NameOptions } from './envNames';
import { expandValues } from './expand';

/** How an API caller gets a fallback; the CLI says it with its own flags instead. */
export const FALLBACK_HINT = 'Set the lastKnownGoodFile or dotenvFile option for a fallback.';

export interface ConsulEnvOptions extends NameOptions {
  /**
   * The KV prefix whose keys become variables (`app/env/` → `app/env/db/host` is `DB_HOST`), or
   * several, a later prefix winning for a variable both define (as envconsul's several `-prefix`).
   */
  prefix: string | readonly string[];
  /** Let Consul's values replace variables that are already set. Default false: the environment wins. */
  override?: boolean;
  /** A `.env` file layered below Consul: its values apply where Consul has none. */
  dotenvFile?: string;
  /** Expand `${VAR}` references, as dotenv-expand does. Default true. */
  expand?: boolean;
  /** Keep the last values read from Consul here, and use them when Consul cannot be reached. */
  lastKnownGoodFile?: string;
  /** An existing client, or connection options for one of its own (default: Consul's env variables). */
  client?: ConsulWatch;
  connection?: ConnectionOptions;
  /** The environment to fill. Default `process.env`. */
  env?: Record<string, string | undefined>;
  logger?: Logger;
}

export interface ConsulEnvResult {
  /** Every variable the prefix (and `.env`) define, expanded, whether or not it was applied. */
  parsed: Record<string, string>;
  /** Where the Consul part came from. */
  source: 'consul' | 'cache' | 'dotenv';
}

const LKG_VERSION = 1;

export const ENV_OPTIONS = namesOf<ConsulEnvOptions>({
  prefix: true,
  override: true,
  dotenvFile: true,
  expand: true,
  lastKnownGoodFile: true,
  client: true,
  connection: true,
  env: true,
  logger: true,
  separator: true,
  uppercase: true,
  sanitize: true,
  transform: true,
});

/** The prefixes, each ending in `/`, in order of precedence (the last wins). */
export function normalisePrefixes(prefix: unknown): string[] {
  const list = Array.isArray(prefix) ? prefix : [prefix];
  if (list.length === 0 || list.some((p) => typeof p !== 'string' || p.trim() === '')) {
    throw new TypeError(
      'a prefix is required, such as { prefix: "app/env/" } or { prefix: ["shared/env/", "app/env/"] }',
    );
  }
  return (list as string[]).map((p) => (p.endsWith('/') ? p : `${p}/`));
}

/** How the prefixes are named in messages: `"app/env/"`, or `"shared/env/", "app/env/"`. */
export const describePrefixes = (prefixes: readonly string[]) =>
  prefixes.map((p) => JSON.stringify(p)).join(', ');

export function readDotenv(file: string | undefined): Record<string, string> {
  if (!file || !existsSync(file)) return {};
  let text: string;
  try {
    if (statSync(file).isDirectory()) {
      throw new InvalidInputError(
        `dotenvFile ${JSON.stringify(file)} is a directory, not a .env file: name a file such as ${JSON.stringify(`${file.replace(/\/+$/, '')}/.env`)}`,
      );
    }
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof InvalidInputError) throw error;
    throw new InvalidInputError(
      `dotenvFile ${JSON.stringify(file)} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): name a readable .env file`,
    );
  }
  const values = parseDotenv(text);
  for (const [name, value] of Object.entries(values)) {
    if (value.includes('\0')) {
      throw new InvalidInputError(
        `dotenvFile ${JSON.stringify(file)}: the value of ${name} contains a NUL byte, which no environment variable can hold. Remove it from the file.`,
      );
    }
  }
  return values;
}

/** Refuses options that are not an options object, or a dotenvFile that is not a path. */
export function checkOptions(
  options: unknown,
  caller: string,
  known: readonly string[] = ENV_OPTIONS,
): asserts options is ConsulEnvOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(
      `${caller} needs an options object: a prefix is required, such as { prefix: "app/env/" }`,
    );
  }
  checkOptionNames(options, known, caller);
  const { dotenvFile, connection } = options as ConsulEnvOptions;
  if (connection !== undefined) checkClientOptionNames(connection, `${caller} connection`);
  if (dotenvFile !== undefined && typeof dotenvFile !== 'string') {
    throw new InvalidInputError(
      `${caller} dotenvFile must be the path of a .env file (a string), got ${dotenvFile === null ? 'null' : typeof dotenvFile}`,
    );
  }
}

/**
 * Names and values from each prefix's Consul entries (a later prefix winning) and `.env`,
 * Consul winning, expanded against `env`.
 */
export function computeValues(
  layers: Iterable<readonly [prefix: string, entries: Iterable<KvEntry>]>,
  options: ConsulEnvOptions,
  env: Record<string, string | undefined>,
): Record<string, string> {
  const fromConsul: Record<string, string> = {};
  for (const [prefix, entries] of layers)
    for (const [name, { value }] of mapEntries(entries, prefix, options)) fromConsul[name] = value;
  return finish(fromConsul, options, env);
}

function finish(
  fromConsul: Record<string, string>,
  options: ConsulEnvOptions,
  env: Record<string, string | undefined>,
): Record<string, string> {
  const merged = { ...readDotenv(options.dotenvFile), ...fromConsul };
  return options.expand === false ? merged : expandValues(merged, env);
}

/** Entries of several prefixes' reads, each key once (prefixes may overlap). */
export function uniqueEntries(lists: Iterable<Iterable<KvEntry>>): KvEntry[] {
  const byKey = new Map<string, KvEntry>();
  for (const list of lists) for (const entry of list) byKey.set(entry.key, entry);
  return [...byKey.values()];
}

/** Sets the variables in `env` that it may set: those not set before, or all with `override`. */
export function applyValues(
  values: Record<string, string>,
  env: Record<string, string | undefined>,
  override: boolean,
  before: ReadonlySet<string>,
): string[] {
  const applied: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    if (!override && before.has(name)) continue;
    if (env[name] !== value) applied.push(name);
    env[name] = value;
  }
  return applied;
}

export async function saveLastKnownGood(
  file: string,
  entries: KvEntry[],
  logger: Logger,
): Promise<void> {
  const values = entries.map((e) => ({ key: e.key, value: e.value.toString('base64') }));
  try {
    await writeFileAtomic(
      file,
      JSON.stringify({ version: LKG_VERSION, savedAt: new Date().toISOString(), values }),
    );
  } catch (error) {
    logger.warn(`could not write the last-known-good file ${file}: ${(error as Error).message}`);
  }
}

async function readLastKnownGood(
  file: string,
): Promise<{ savedAt: string; entries: KvEntry[] } | undefined> {
  try {
    const saved = JSON.parse(await readFile(file, 'utf8'));
    if (saved?.version !== LKG_VERSION || !Array.isArray(saved.values)) return undefined;
    const entries = saved.values.map(
      (v: { key: string; value: string }) =>
        ({ key: v.key, value: Buffer.from(v.value, 'base64') }) as KvEntry,
    );
    return { savedAt: saved.savedAt, entries };
  } catch {
    return undefined;
  }
}

/**
 * Reads every key under the prefix once and sets the environment, as dotenv does at start-up.
 * Precedence, highest first: variables already set (unless `override`), Consul, `.env`.
 * When Consul cannot be reached it falls back to the last-known-good file, then to `.env`
 * alone, saying which in one log line; with neither it fails with ConsulUnavailableError.
 */
export async function loadConsulEnv(options: ConsulEnvOptions): Promise<ConsulEnvResult> {
  checkOptions(options, 'loadConsulEnv');
  const prefixes = normalisePrefixes(options.prefix);
  const env = options.env ?? process.env;
  const logger = options.logger ?? silentLogger;
  const client = options.client ?? createConsulWatch(options.connection);
  const before = new Set(Object.keys(env).filter((k) => env[k] !== undefined));
  try {
    let entries: KvEntry[];
    let source: ConsulEnvResult['source'] = 'consul';
    try {
      // Keys come back relative to the client's own prefix; ours are relative to that too.
      entries = uniqueEntries(await Promise.all(prefixes.map((p) => client.kv.list(p))));
    } catch (error) {
      if (!(error instanceof ConsulUnavailableError)) throw error;
      const cached = options.lastKnownGoodFile
        ? await readLastKnownGood(options.lastKnownGoodFile)
        : undefined;
      if (cached) {
        logger.warn(
          `Consul is unreachable (${error.message}); using the last-known-good values from ${options.lastKnownGoodFile} saved at ${cached.savedAt}`,
        );
        entries = cached.entries;
        source = 'cache';
      } else if (options.dotenvFile && existsSync(options.dotenvFile)) {
        logger.warn(`Consul is unreachable (${error.message}); using ${options.dotenvFile} alone`);
        entries = [];
        source = 'dotenv';
      } else {
        throw new ConsulUnavailableError(
          `Cannot load the environment from Consul prefix ${describePrefixes(prefixes)}: ${error.message} ${FALLBACK_HINT}`,
        );
      }
    }
    // Each prefix sees only its own keys (mapEntries skips the others), in order.
    const parsed = computeValues(
      prefixes.map((p) => [p, entries] as const),
      options,
      env,
    );
    applyValues(parsed, env, options.override ?? false, before);
    if (source === 'consul' && options.lastKnownGoodFile)
      await saveLastKnownGood(options.lastKnownGoodFile, entries, logger);
    return { parsed, source };
  } finally {
    if (!options.client) await client.close();
  }
}
