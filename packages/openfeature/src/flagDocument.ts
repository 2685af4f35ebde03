import type { KvChange } from '@consul-watch/core';
import { decodeValue, formatOfKey, suggestion } from '@consul-watch/core/internal';
import { type FeatureFlag, MemoryStorage } from '@openfeature/flagd-core';
import type { Logger as OpenFeatureLogger } from '@openfeature/server-sdk';
import { FlagDocumentError } from './flagDocumentError';

type JsonObject = Record<string, unknown>;
type KvState = KvChange['entries'];

/** One source's flag definitions as read from Consul, before flagd-core compiles them. */
export interface FlagDefinitions {
  flags: Record<string, JsonObject>;
  evaluators: JsonObject;
  /** Flag-set metadata: every flag of the source carries it, under its own. */
  metadata: JsonObject;
  /** The Consul key each flag (and `$evaluators`) was read from, for messages. */
  keys: Record<string, string>;
}

export const EMPTY_DEFINITIONS: FlagDefinitions = Object.freeze({
  flags: {},
  evaluators: {},
  metadata: {},
  keys: {},
}) as FlagDefinitions;

/** The top-level members of a flagd flag-definition document. */
const DOCUMENT_KEYS = ['$schema', 'flags', '$evaluators', 'metadata'];
export const EVALUATORS_KEY = '$evaluators';

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const kindOf = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;

/** A Consul value as JSON, or YAML when its key says so (`.yaml`/`.yml`); flagd's own format is JSON. */
function decode(key: string, bytes: Buffer, source: string): unknown {
  const format = formatOfKey(key) === 'yaml' ? 'yaml' : 'json';
  try {
    return decodeValue(bytes, format, key, true);
  } catch (error) {
    throw new FlagDocumentError(
      `${(error as Error).message.replace(/\.$/, '')}; the last good flags of source ${JSON.stringify(source)} stay in force.`,
      key,
      undefined,
      source,
      { cause: error },
    );
  }
}

/** `sources` entry kind: a prefix ends with '/', anything else is one key holding a document. */
export const isPrefixSource = (source: string): boolean => source.endsWith('/');

/** The definitions a source's KV entries hold (one document for a key, one flag per key under a prefix). */
export function readSource(source: string, entries: KvState): FlagDefinitions {
  return isPrefixSource(source) ? readPrefix(source, entries) : readKey(source, entries);
}

function readKey(source: string, entries: KvState): FlagDefinitions {
  const entry = entries.get(source);
  if (!entry) return EMPTY_DEFINITIONS;
  const document = decode(source, entry.value, source);
  const fail = (what: string, flag?: string) =>
    new FlagDocumentError(
      `Consul key ${JSON.stringify(source)}: ${what}; the last good flags of this source stay in force. Fix the document in Consul.`,
      source,
      flag,
      source,
    );
  if (!isObject(document))
    throw fail(
      `must hold a flagd flag-definition object ({ "flags": { … } }), not ${kindOf(document)}`,
    );
  for (const name of Object.keys(document)) {
    if (!DOCUMENT_KEYS.includes(name))
      throw fail(`unknown member ${JSON.stringify(name)}: ${suggestion(name, DOCUMENT_KEYS, '"')}`);
  }
  const { flags, $evaluators: evaluators = {}, metadata = {} } = document;
  if (!isObject(flags))
    throw fail(`"flags" must be an object of flag definitions, not ${kindOf(flags)}`);
  if (!isObject(evaluators))
    throw fail(`"$evaluators" must be an object, not ${kindOf(evaluators)}`);
  if (!isObject(metadata)) throw fail(`"metadata" must be an object, not ${kindOf(metadata)}`);
  const keys: Record<string, string> = { [EVALUATORS_KEY]: source };
  for (const [name, flag] of Object.entries(flags)) {
    if (!isObject(flag))
      throw fail(`flag ${JSON.stringify(name)} must be an object, not ${kindOf(flag)}`, name);
    keys[name] = source;
  }
  return { flags: flags as Record<string, JsonObject>, evaluators, metadata, keys };
}

function readPrefix(source: string, entries: KvState): FlagDefinitions {
  const flags: Record<string, JsonObject> = {};
  const keys: Record<string, string> = {};
  let evaluators: JsonObject = {};
  for (const [key, entry] of entries) {
    if (key.endsWith('/')) continue; // a folder marker, as `consul kv put flags/app/` makes
    const name = key.slice(source.length).replace(/\.(json|ya?ml)$/i, '');
    const value = decode(key, entry.value, source);
    const where = `Consul key ${JSON.stringify(key)}`;
    if (keys[name] !== undefined)
      throw new FlagDocumentError(
        `${where} and ${JSON.stringify(keys[name])} both define ${JSON.stringify(name)}; delete one of them. The last good flags of source ${JSON.stringify(source)} stay in force.`,
        key,
        name === EVALUATORS_KEY ? undefined : name,
        source,
      );
    keys[name] = key;
    if (!isObject(value))
      throw new FlagDocumentError(
        `${where} must hold ${name === EVALUATORS_KEY ? 'an object of evaluators' : `the definition of flag ${JSON.stringify(name)} (an object with state, variants, defaultVariant)`}, not ${kindOf(value)}; the last good flags of source ${JSON.stringify(source)} stay in force.`,
        key,
        name === EVALUATORS_KEY ? undefined : name,
        source,
      );
    if (name === EVALUATORS_KEY) evaluators = value;
    else flags[name] = value;
  }
  return { flags, evaluators, metadata: {}, keys };
}

/** Every `{ "$ref": name }` in a targeting rule. */
function refsOf(rule: unknown, found: string[] = []): string[] {
  if (Array.isArray(rule)) for (const item of rule) refsOf(item, found);
  else if (isObject(rule)) {
    const keys = Object.keys(rule);
    if (keys.length === 1 && keys[0] === '$ref' && typeof rule.$ref === 'string')
      found.push(rule.$ref);
    else for (const value of Object.values(rule)) refsOf(value, found);
  }
  return found;
}

/** The first schema error of a flagd-core ParseError, as `at /variants/off: must be boolean`. */
function schemaReason(error: Error, name: string): string {
  const json = error.message.indexOf(': [');
  if (json !== -1) {
    try {
      const issues = JSON.parse(error.message.slice(json + 2)) as {
        instancePath: string;
        message: string;
      }[];
      const first = issues[0];
      if (first) {
        const at = first.instancePath.replace(
          `/flags/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`,
          '',
        );
        return `does not match flagd's flag schema${at ? ` at ${at}` : ''}: ${first.message}`;
      }
    } catch {
      // not the list of schema errors flagd-core writes; use its message as it is
    }
  }
  const cause = (error as { cause?: unknown }).cause;
  return `is not a valid flagd flag: ${cause instanceof Error ? cause.message : error.message}`;
}

/**
 * Turns definitions into flagd-core's compiled flags, one flag at a time so that a change
 * recompiles only the flags whose text changed. Evaluation is flagd-core's alone; this only
 * refuses a definition flagd-core would accept but could not evaluate as written (a `$ref` to
 * no evaluator, a targeting rule it cannot compile) so that it never replaces a good one.
 */
export class FlagCompiler {
  private cache = new Map<string, { text: string; flag: FeatureFlag }>();
  private context = '';

  constructor(
    private readonly source: string,
    private readonly logger: OpenFeatureLogger,
  ) {}

  compile(
    definitions: FlagDefinitions,
    evaluators: JsonObject,
    evaluatorsText: string,
  ): Map<string, FeatureFlag> {
    const context = `${evaluatorsText}\n${JSON.stringify(definitions.metadata)}`;
    const cache =
      context === this.context
        ? this.cache
        : new Map<string, { text: string; flag: FeatureFlag }>();
    const next = new Map<string, { text: string; flag: FeatureFlag }>();
    const flags = new Map<string, FeatureFlag>();
    for (const [name, definition] of Object.entries(definitions.flags)) {
      const text = JSON.stringify(definition);
      const hit = cache.get(name);
      const flag =
        hit?.text === text ? hit.flag : this.compileOne(name, definition, definitions, evaluators);
      next.set(name, { text, flag });
      flags.set(name, flag);
    }
    this.cache = next;
    this.context = context;
    return flags;
  }

  private compileOne(
    name: string,
    definition: JsonObject,
    definitions: FlagDefinitions,
    evaluators: JsonObject,
  ): FeatureFlag {
    const key = definitions.keys[name] ?? this.source;
    const fail = (what: string, cause?: unknown) =>
      new FlagDocumentError(
        `flag ${JSON.stringify(name)} in Consul key ${JSON.stringify(key)} ${what}; the last good flags of source ${JSON.stringify(this.source)} stay in force. Fix it in Consul.`,
        key,
        name,
        this.source,
        cause === undefined ? undefined : { cause },
      );
    const variants = definition.variants;
    const fallback = definition.defaultVariant;
    if (isObject(variants) && typeof fallback === 'string' && !(fallback in variants))
      throw fail(
        `has defaultVariant ${JSON.stringify(fallback)}, which is not among its variants (${
          Object.keys(variants)
            .map((v) => JSON.stringify(v))
            .join(', ') || 'none'
        })`,
      );
    // Only the evaluators this flag refers to: flagd-core rewrites the document once per evaluator.
    // An evaluator may itself refer to evaluators: take those too.
    const used: JsonObject = {};
    const pending = refsOf(definition.targeting);
    for (let ref = pending.pop(); ref !== undefined; ref = pending.pop()) {
      if (ref in used) continue;
      if (!(ref in evaluators))
        throw fail(
          `refers to evaluator ${JSON.stringify(ref)} ({ "$ref": ${JSON.stringify(ref)} }), which no "$evaluators" of the sources defines`,
        );
      used[ref] = evaluators[ref];
      pending.push(...refsOf(evaluators[ref]));
    }
    const storage = new MemoryStorage(this.logger);
    try {
      storage.setConfigurations(
        JSON.stringify({
          ...(Object.keys(used).length > 0 ? { $evaluators: used } : {}),
          metadata: definitions.metadata,
          flags: { [name]: definition },
        }),
        true,
      );
    } catch (error) {
      throw fail(schemaReason(error as Error, name), error);
    }
    const flag = storage.getFlag(name)!;
    // flagd-core keeps a flag whose targeting it cannot compile and answers PARSE_ERROR for it.
    if (definition.targeting !== undefined && flag.evaluate({}).errorCode === 'PARSE_ERROR')
      throw fail(
        'has a targeting rule flagd cannot compile (an unknown operator or wrong arguments)',
      );
    return flag;
  }
}
