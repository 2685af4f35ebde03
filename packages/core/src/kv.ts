import { checkFormat, decodeValue, encodeValue, formatOfKey, type ValueFormat } from './codec';
import { getPath } from './configTree';
import type { CallSettings, ConsulHttp } from './consulHttp';
import { InvalidInputError, NotFoundError } from './errors';
import { validateKey, validateValueSize } from './keys';
import { checkOptionNames, namesOf } from './optionNames';

/** One KV entry, its value as bytes, its key relative to the connection's prefix. */
export interface KvEntry {
  key: string;
  value: Buffer;
  flags: number;
  createIndex: number;
  modifyIndex: number;
  lockIndex: number;
  session?: string;
}

/** The entry as Consul sends it: Value base64 text, or already decoded by the client. */
export interface RawKvEntry {
  Key: string;
  Value: Buffer | string | null;
  Flags: number;
  CreateIndex: number;
  ModifyIndex: number;
  LockIndex: number;
  Session?: string;
}

export const relativeKey = (key: string, prefix: string) =>
  prefix && key.startsWith(prefix) ? key.slice(prefix.length) : key;

export function toEntry(raw: RawKvEntry, prefix: string): KvEntry {
  const entry: KvEntry = {
    key: relativeKey(raw.Key, prefix),
    value:
      typeof raw.Value === 'string'
        ? Buffer.from(raw.Value, 'base64')
        : (raw.Value ?? Buffer.alloc(0)),
    flags: raw.Flags,
    createIndex: raw.CreateIndex,
    modifyIndex: raw.ModifyIndex,
    lockIndex: raw.LockIndex,
  };
  if (raw.Session) entry.session = raw.Session;
  return entry;
}

export interface GetOptions {
  /** How to decode: by default from the key's extension (`.json`, `.yaml`), else text. */
  format?: ValueFormat;
  /** Throw NotFoundError instead of returning undefined when the key is missing. */
  required?: boolean;
}

export interface PutOptions {
  /** Opaque uint64 stored with the value (0 to 2^53-1 here). */
  flags?: number;
  /** Check-and-set: write only if the entry's ModifyIndex equals this (0: only if absent). */
  cas?: number;
  /** Write and lock the key for this session ID; false when another session holds it. */
  acquire?: string;
  /** Write and unlock the key, only when this session ID holds it. */
  release?: string;
}

export interface DeleteOptions {
  /** Delete every key under the given prefix. */
  recurse?: boolean;
  /** Delete only if the entry's ModifyIndex equals this. */
  cas?: number;
}

export type KvTxnOp =
  | { verb: 'set'; key: string; value: unknown; flags?: number }
  | { verb: 'cas'; key: string; value: unknown; index: number; flags?: number }
  | { verb: 'get'; key: string }
  | { verb: 'get-tree'; key: string }
  | { verb: 'check-index'; key: string; index: number }
  | { verb: 'check-not-exists'; key: string }
  | { verb: 'delete'; key: string }
  | { verb: 'delete-tree'; key: string }
  | { verb: 'delete-cas'; key: string; index: number };

export interface KvTxnResult {
  /** True when every operation applied; false when Consul rolled all of them back. */
  ok: boolean;
  results: KvEntry[];
  errors: { opIndex: number; what: string }[];
}

const GET_OPTIONS = namesOf<GetOptions>({ format: true, required: true });
const PUT_OPTIONS = namesOf<PutOptions>({ flags: true, cas: true, acquire: true, release: true });
const DELETE_OPTIONS = namesOf<DeleteOptions>({ recurse: true, cas: true });
const KEYS_OPTIONS = ['separator'];

/** The fields each transaction verb takes besides `verb` and `key`. */
const TXN_FIELDS: Record<KvTxnOp['verb'], readonly string[]> = {
  set: ['value', 'flags'],
  cas: ['value', 'index', 'flags'],
  get: [],
  'get-tree': [],
  'check-index': ['index'],
  'check-not-exists': [],
  delete: [],
  'delete-tree': [],
  'delete-cas': ['index'],
};

/** Refuses an options object with a name the call does not take, naming the call and its key. */
function checkNames(options: unknown, known: readonly string[], where: string): void {
  if (options !== null && typeof options === 'object') checkOptionNames(options, known, where);
}

/** Consul's limit on operations in one transaction. */
export const TXN_MAX_OPS = 128;

function checkIndex(value: unknown, name: string, key: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidInputError(
      `${name} for key ${JSON.stringify(key)} must be a whole number ≥ 0, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** KV operations over one connection; every key is relative to the connection's prefix. */
export class KvClient {
  /** Settings for calls that are safe to send twice. */
  private readonly idempotent: CallSettings;

  /** @internal use `client.kv` */
  constructor(
    private readonly http: ConsulHttp,
    private readonly settings: CallSettings = {},
  ) {
    this.idempotent = { ...settings, idempotent: true };
  }

  private get prefix(): string {
    return this.http.connection.prefix;
  }

  private path(key: string): string {
    return this.prefix + key;
  }

  /** `/kv/<key>` under the connection's prefix, encoded as a path part. */
  private kvPath(key: string): string {
    return `/kv/${encodeURIComponent(this.prefix + key)}`;
  }

  /** The whole entry (bytes, flags, indexes), or undefined. */
  async getEntry(key: string): Promise<KvEntry | undefined> {
    validateKey(key);
    const res = await this.http.request<RawKvEntry[]>(
      `get ${JSON.stringify(key)}`,
      this.idempotent,
      { path: this.kvPath(key) },
    );
    const raw = res.body?.[0];
    return raw ? toEntry(raw, this.prefix) : undefined;
  }

  async getBuffer(key: string): Promise<Buffer | undefined> {
    return (await this.getEntry(key))?.value;
  }

  async getString(key: string): Promise<string | undefined> {
    return (await this.getEntry(key))?.value.toString('utf8');
  }

  async getJson<T = unknown>(key: string): Promise<T | undefined> {
    return this.get<T>(key, '', { format: 'json' });
  }

  /**
   * Reads a key decoded by its format (JSON, YAML or text, from the key's extension or the
   * `format` option); with `path` (`db.host`), one field inside the document. Missing key or
   * field → undefined (or NotFoundError with `required`); a value that does not decode →
   * DecodeError naming the key.
   */
  async get<T = unknown>(
    key: string,
    path?: string,
    options: GetOptions = {},
  ): Promise<T | undefined> {
    if (path !== undefined && typeof path !== 'string') {
      throw new InvalidInputError(
        `get of ${JSON.stringify(key)}: path must be a dot path string such as 'db.host', got ${typeof path}`,
      );
    }
    checkNames(options, GET_OPTIONS, `get of ${JSON.stringify(key)}`);
    if (options.format !== undefined) checkFormat(options.format, `get of ${JSON.stringify(key)}`);
    const entry = await this.getEntry(key);
    if (!entry) {
      if (options.required)
        throw new NotFoundError(
          `Key ${JSON.stringify(key)} does not exist in Consul. Write it first, or read without required.`,
          key,
        );
      return undefined;
    }
    const format =
      options.format ?? (path ? (formatOfKey(key) === 'yaml' ? 'yaml' : 'json') : formatOfKey(key));
    const document = decodeValue(entry.value, format, key);
    const value = path ? getPath(document, path) : document;
    if (value === undefined && options.required) {
      throw new NotFoundError(
        `Key ${JSON.stringify(key)} has no field ${JSON.stringify(path)}.`,
        key,
      );
    }
    return value as T;
  }

  /** Writes a string, bytes, or any other value as JSON. False when a `cas` check failed. */
  async put(key: string, value: unknown, options: PutOptions = {}): Promise<boolean> {
    validateKey(key);
    checkNames(options, PUT_OPTIONS, `put of ${JSON.stringify(key)}`);
    const bytes = encodeValue(value, key);
    validateValueSize(bytes, key);
    const query: string[] = [];
    if (options.flags !== undefined) query.push(`flags=${checkIndex(options.flags, 'flags', key)}`);
    if (options.cas !== undefined) query.push(`cas=${checkIndex(options.cas, 'cas', key)}`);
    const given = (['cas', 'acquire', 'release'] as const).filter((o) => options[o] !== undefined);
    if (given.length > 1)
      throw new InvalidInputError(
        `put of ${JSON.stringify(key)}: ${given.join(' and ')} cannot be combined; Consul takes one of cas, acquire and release`,
      );
    for (const name of ['acquire', 'release'] as const) {
      const session = options[name];
      if (session === undefined) continue;
      if (typeof session !== 'string' || session === '')
        throw new InvalidInputError(
          `put of ${JSON.stringify(key)}: ${name} must be a session ID (from client.session())`,
        );
      query.push(`${name}=${encodeURIComponent(session)}`);
    }
    const res = await this.http.request<boolean>(
      `put ${JSON.stringify(key)}`,
      given.length === 0 ? this.idempotent : this.settings,
      { method: 'PUT', path: this.kvPath(key), query: query.join('&'), body: bytes },
    );
    return res.body === true;
  }

  /** Deletes one key, or with `recurse` every key under a prefix. False when `cas` failed. */
  async delete(key: string, options: DeleteOptions = {}): Promise<boolean> {
    validateKey(key, options.recurse ? 'prefix' : 'key');
    checkNames(options, DELETE_OPTIONS, `delete of ${JSON.stringify(key)}`);
    if (options.recurse && options.cas !== undefined) {
      throw new InvalidInputError(
        `delete of ${JSON.stringify(key)}: cas cannot be combined with recurse`,
      );
    }
    if (options.recurse && this.path(key) === '') {
      throw new InvalidInputError(
        'delete with recurse and an empty prefix would erase the whole KV store; name a prefix',
      );
    }
    const query: string[] = [];
    if (options.recurse) query.push('recurse=true');
    if (options.cas !== undefined) query.push(`cas=${checkIndex(options.cas, 'cas', key)}`);
    const res = await this.http.request<boolean>(
      `delete ${JSON.stringify(key)}`,
      options.cas === undefined ? this.idempotent : this.settings,
      { method: 'DELETE', path: this.kvPath(key), query: query.join('&') },
    );
    return res.body === true;
  }

  /** Every entry under a prefix, sorted by key. */
  async list(prefix = ''): Promise<KvEntry[]> {
    validateKey(prefix, 'prefix');
    const res = await this.http.request<RawKvEntry[]>(
      `list ${JSON.stringify(prefix)}`,
      this.idempotent,
      { path: this.kvPath(prefix), query: 'recurse=true' },
    );
    return (res.body ?? []).map((raw) => toEntry(raw, this.prefix));
  }

  /** Key names under a prefix; with a separator, each folder once (`app/db/`). */
  async keys(prefix = '', options: { separator?: string } = {}): Promise<string[]> {
    validateKey(prefix, 'prefix');
    checkNames(options, KEYS_OPTIONS, `keys of ${JSON.stringify(prefix)}`);
    const res = await this.http.request<string[]>(
      `keys ${JSON.stringify(prefix)}`,
      this.idempotent,
      {
        path: this.kvPath(prefix),
        query: options.separator
          ? `keys=true&separator=${encodeURIComponent(options.separator)}`
          : 'keys=true',
      },
    );
    return (res.body ?? []).map((k) =>
      this.prefix && k.startsWith(this.prefix) ? k.slice(this.prefix.length) : k,
    );
  }

  /** Applies up to 128 operations atomically: all of them, or none. */
  async txn(ops: KvTxnOp[]): Promise<KvTxnResult> {
    if (!Array.isArray(ops) || ops.length === 0)
      throw new InvalidInputError('txn needs a non-empty array of operations');
    if (ops.length > TXN_MAX_OPS) {
      throw new InvalidInputError(
        `txn has ${ops.length} operations; Consul applies at most ${TXN_MAX_OPS} in one transaction. Split it.`,
      );
    }
    const body = ops.map((op, i) => {
      if (op === null || typeof op !== 'object' || typeof op.verb !== 'string') {
        throw new InvalidInputError(
          `txn operation ${i} must be an object with a verb and a key, such as { verb: 'set', key: 'a', value: '1' }`,
        );
      }
      const tree = op.verb === 'get-tree' || op.verb === 'delete-tree';
      validateKey(op.key, tree ? 'prefix' : 'key');
      const fields = Object.hasOwn(TXN_FIELDS, op.verb) ? TXN_FIELDS[op.verb] : undefined;
      if (fields)
        checkOptionNames(op, ['verb', 'key', ...fields], `txn operation ${i} (${op.verb})`);
      const kv: Record<string, unknown> = { Verb: op.verb, Key: this.path(op.key) };
      if ('value' in op) {
        const bytes = encodeValue(op.value, op.key);
        validateValueSize(bytes, op.key);
        kv.Value = bytes.toString('base64');
      }
      if ('flags' in op && op.flags !== undefined) kv.Flags = checkIndex(op.flags, 'flags', op.key);
      // These verbs mean nothing without an index: Consul would read a missing one as 0.
      const needsIndex = op.verb === 'cas' || op.verb === 'check-index' || op.verb === 'delete-cas';
      if ('index' in op || needsIndex)
        kv.Index = checkIndex((op as { index?: unknown }).index, 'index', op.key);
      return { KV: kv };
    });
    const res = await this.http.request<{
      Results: { KV: RawKvEntry & { Value: string | null } }[] | null;
      Errors: { OpIndex: number; What: string }[] | null;
    }>('txn', { ...this.settings, acceptStatus: [409] }, { method: 'PUT', path: '/txn', body });
    const results = (res.body?.Results ?? []).map(({ KV }) => toEntry(KV, this.prefix));
    const errors = (res.body?.Errors ?? []).map((e) => ({ opIndex: e.OpIndex, what: e.What }));
    return { ok: res.status === 200, results, errors };
  }
}
