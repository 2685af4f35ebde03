import { serveBlocking } from '../blocking';
import { kvTopics } from '../devState';
import { decodePath, HttpError, json, type Request, rawJson, readBody, send } from '../http';
import type { KvEntry } from '../kvStore';
import type { Route, RouteContext } from './route';

/** Consul's `kv_max_value_size` default. */
export const KV_MAX_VALUE_SIZE = 512 * 1024;
const MAX_UINT64 = (1n << 64n) - 1n;
// A write's whole answer: made once, not per request.
const TRUE = json(true);
const FALSE = json(false);
const answer = (ok: boolean) => (ok ? TRUE : FALSE);

// An entry object is never changed in place (a write stores a new one), so its JSON can be
// kept: a read of a large prefix then costs a join, not a base64 and a stringify per key.
const cachedJson = new WeakMap<KvEntry, string>();

/** One KV entry as Consul writes it; Flags is written as bare digits to keep all 64 bits. */
export function entryJson(e: KvEntry, withValue = true): string {
  if (withValue) {
    const cached = cachedJson.get(e);
    if (cached !== undefined) return cached;
    const json = encodeEntry(e, true);
    cachedJson.set(e, json);
    return json;
  }
  return encodeEntry(e, false);
}

function encodeEntry(e: KvEntry, withValue: boolean): string {
  const value = withValue && e.Value !== null ? `"${e.Value.toString('base64')}"` : 'null';
  const session = e.Session ? `,"Session":${JSON.stringify(e.Session)}` : '';
  return `{"LockIndex":${e.LockIndex},"Key":${JSON.stringify(e.Key)},"Flags":${e.Flags},"Value":${value}${session},"CreateIndex":${e.CreateIndex},"ModifyIndex":${e.ModifyIndex}}`;
}

export function validKey(key: string, allowEmpty: boolean): string {
  if (key === '' && !allowEmpty) throw new HttpError(400, 'Missing key name');
  if (key.startsWith('/'))
    throw new HttpError(
      400,
      `Invalid key name ${JSON.stringify(key)}: keys must not begin with a '/'`,
    );
  return key;
}

export function uint64Param(r: Request, name: string): string | undefined {
  const value = r.query.get(name);
  if (value === null) return undefined;
  if (!/^\d{1,20}$/.test(value) || BigInt(value) > MAX_UINT64) {
    throw new HttpError(
      400,
      `Invalid ${name}: ${JSON.stringify(value)} is not an unsigned 64-bit integer`,
    );
  }
  return String(BigInt(value));
}

function casParam(r: Request): number | undefined {
  const cas = uint64Param(r, 'cas');
  return cas === undefined ? undefined : Number(cas);
}

interface WriteParams {
  flags: string;
  cas: number | undefined;
  acquire: string | null;
  release: string | null;
}

const PLAIN_WRITE: WriteParams = { flags: '0', cas: undefined, acquire: null, release: null };

/** A KV write's parameters, checked; a write without any (the usual case) asks for none. */
function writeParams(r: Request): WriteParams {
  if (r.query.size === 0) return PLAIN_WRITE;
  const given = ['cas', 'acquire', 'release'].filter((name) => r.query.has(name));
  if (given.length > 1)
    throw new HttpError(400, `Conflicting flags: ${given.join(', ')} cannot be used together`);
  return {
    flags: uint64Param(r, 'flags') ?? '0',
    cas: casParam(r),
    acquire: r.query.get('acquire'),
    release: r.query.get('release'),
  };
}

export function kvRoutes({ state }: RouteContext): Route[] {
  const { kv, waiters, raft, sessions } = state;
  const knownSession = (id: string) => {
    if (id === '') throw new HttpError(500, 'missing session');
    if (!sessions.get(id)) throw new HttpError(500, `invalid session ${JSON.stringify(id)}`);
  };

  const get = (r: Request, rest: string) => {
    const recurse = r.query.has('recurse');
    const keysOnly = r.query.has('keys');
    const key = validKey(decodePath(rest), recurse || keysOnly);
    if (keysOnly) {
      const separator = r.query.get('separator') || undefined;
      serveBlocking(r, waiters, {
        topic: kvTopics.prefix(key),
        index: () => BigInt(kv.prefixIndex(key)),
        run: () => {
          const keys = kv.keysUnder(key, separator);
          const index = BigInt(kv.prefixIndex(key));
          return keys.length === 0 ? { index, status: 404, body: '' } : { index, ...json(keys) };
        },
      });
    } else if (recurse) {
      serveBlocking(r, waiters, {
        topic: kvTopics.prefix(key),
        index: () => BigInt(kv.prefixIndex(key)),
        run: () => {
          const entries = kv.list(key);
          const index = BigInt(kv.prefixIndex(key));
          if (entries.length === 0) return { index, status: 404, body: '' };
          return { index, ...rawJson(`[${entries.map((e) => entryJson(e)).join(',')}]`) };
        },
      });
    } else {
      const raw = r.query.has('raw');
      serveBlocking(r, waiters, {
        topic: kvTopics.key(key),
        index: () => BigInt(kv.keyIndex(key)),
        run: () => {
          const entry = kv.get(key);
          const index = BigInt(kv.keyIndex(key));
          if (!entry) return { index, status: 404, body: '' };
          if (raw)
            return {
              index,
              body: entry.Value ?? Buffer.alloc(0),
              contentType: 'application/octet-stream',
            };
          return { index, ...rawJson(`[${entryJson(entry)}]`) };
        },
      });
    }
  };

  const put = async (r: Request, rest: string) => {
    const key = validKey(decodePath(rest), false);
    const { flags, cas, acquire, release } = writeParams(r);
    const body = await readBody(r.req, KV_MAX_VALUE_SIZE);
    const value = body.length === 0 ? null : body;
    if (acquire !== null) {
      // Consul refuses during a lock-delay before it looks at the session.
      if (sessions.lockDelayed(key)) return send(r.res, FALSE);
      knownSession(acquire);
      return send(r.res, answer(kv.lock(key, value, flags, acquire, raft.next())));
    }
    if (release !== null) {
      knownSession(release);
      return send(r.res, answer(kv.unlock(key, value, flags, release, raft.next())));
    }
    send(r.res, answer(kv.set(key, value, flags, raft.next(), cas)));
  };

  const del = (r: Request, rest: string) => {
    const recurse = r.query.has('recurse');
    const key = validKey(decodePath(rest), recurse);
    const cas = casParam(r);
    if (recurse && cas !== undefined)
      throw new HttpError(400, 'Conflicting flags: cas cannot be used with recurse');
    if (recurse) {
      kv.deleteTree(key, raft.next());
      send(r.res, TRUE);
      return;
    }
    send(r.res, answer(kv.delete(key, raft.next(), cas)));
  };

  return [{ path: '/v1/kv/', blocking: true, GET: get, PUT: put, DELETE: del }];
}
