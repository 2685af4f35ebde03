import { GoObject } from '../goJson';
import { HttpError, type Request, rawJson, readJson, send } from '../http';
import type { KvEntry } from '../kvStore';
import { entryJson, KV_MAX_VALUE_SIZE, validKey } from './kv';
import type { Route, RouteContext } from './route';

/** Consul's limit on operations in one transaction. */
export const TXN_MAX_OPS = 128;

const VERBS = new Set([
  'set',
  'cas',
  'get',
  'get-tree',
  'check-index',
  'check-not-exists',
  'delete',
  'delete-tree',
  'delete-cas',
  'lock',
  'unlock',
  'check-session',
]);

interface KvOp {
  verb: string;
  key: string;
  value: Buffer | null;
  flags: string;
  index: number;
  session: string;
}

class Abort extends Error {}

function parseOp(input: unknown, i: number): KvOp {
  const op = new GoObject(input, `operation ${i}`);
  const kvOp = op.object('KV');
  if (!kvOp) {
    const other = ['Node', 'Service', 'Check', 'Session', 'Intention'].find((k) => op.has(k));
    throw new HttpError(
      400,
      other
        ? `operation ${i}: consul-dev supports KV operations in transactions, not ${other}`
        : `operation ${i} has no KV field`,
    );
  }
  const verb = kvOp.string('Verb');
  if (!VERBS.has(verb))
    throw new HttpError(400, `operation ${i}: unknown KV verb ${JSON.stringify(verb)}`);
  const encoded = kvOp.string('Value');
  const value = encoded === '' ? null : Buffer.from(encoded, 'base64');
  if (value && value.length > KV_MAX_VALUE_SIZE) {
    throw new HttpError(
      413,
      `operation ${i}: value of ${value.length} bytes is over the limit of ${KV_MAX_VALUE_SIZE} bytes`,
    );
  }
  const flags = kvOp.raw('Flags');
  return {
    verb,
    key: validKey(kvOp.string('Key'), verb === 'get-tree' || verb === 'delete-tree'),
    value,
    flags: flags === undefined || flags === null ? '0' : String(kvOp.number('Flags')),
    index: kvOp.number('Index'),
    session: kvOp.string('Session'),
  };
}

export function txnRoutes({ state }: RouteContext): Route[] {
  const { kv, raft, sessions } = state;
  const sessionProblem = (op: KvOp) =>
    op.session === ''
      ? 'missing session'
      : sessions.get(op.session)
        ? undefined
        : `invalid session ${JSON.stringify(op.session)}`;

  /** Applies one operation; returns why it failed, or undefined. */
  const step = (op: KvOp, index: number, results: string[]): string | undefined => {
    const entry = kv.get(op.key);
    const push = (e: KvEntry | undefined, withValue: boolean) => {
      if (e) results.push(`{"KV":${entryJson(e, withValue)}}`);
    };
    const key = JSON.stringify(op.key);
    switch (op.verb) {
      case 'set':
        kv.set(op.key, op.value, op.flags, index);
        push(kv.get(op.key), false);
        return undefined;
      case 'cas':
        if (!kv.set(op.key, op.value, op.flags, index, op.index))
          return `failed to set key ${key}, index is stale`;
        push(kv.get(op.key), false);
        return undefined;
      case 'get':
        if (!entry) return `key ${key} doesn't exist`;
        push(entry, true);
        return undefined;
      case 'get-tree':
        for (const e of kv.list(op.key)) push(e, true);
        return undefined;
      case 'check-index':
        if (!entry) return `key ${key} doesn't exist`;
        if (entry.ModifyIndex !== op.index)
          return `current modify index ${entry.ModifyIndex} != ${op.index}`;
        push(entry, false);
        return undefined;
      case 'check-not-exists':
        return entry ? `key ${key} exists` : undefined;
      case 'delete':
        kv.delete(op.key, index);
        return undefined;
      case 'delete-tree':
        kv.deleteTree(op.key, index);
        return undefined;
      case 'lock': {
        const problem = sessionProblem(op);
        if (problem) return problem;
        if (!kv.lock(op.key, op.value, op.flags, op.session, index))
          return `failed to lock key ${key}, lock is already held`;
        push(kv.get(op.key), false);
        return undefined;
      }
      case 'unlock':
        if (!kv.unlock(op.key, op.value, op.flags, op.session, index))
          return `failed to unlock key ${key}, lock isn't held, or is held by another session`;
        push(kv.get(op.key), false);
        return undefined;
      case 'check-session':
        if (!entry) return `failed to read lock for key ${key}`;
        if (entry.Session !== op.session)
          return `failed session check for key ${key}, current session ${JSON.stringify(entry.Session ?? '')} != ${JSON.stringify(op.session)}`;
        push(entry, false);
        return undefined;
      default:
        return kv.delete(op.key, index, op.index)
          ? undefined
          : `failed to delete key ${key}, index is stale`;
    }
  };

  const apply = (ops: KvOp[], index: number) => {
    const results: string[] = [];
    const errors: { OpIndex: number; What: string }[] = [];
    for (const [i, op] of ops.entries()) {
      const what = step(op, index, results);
      if (what !== undefined) errors.push({ OpIndex: i, What: what });
    }
    return { results, errors };
  };

  const put = async (r: Request) => {
    const body = await readJson(r.req, 64 * 1024 * 1024);
    if (!Array.isArray(body))
      throw new HttpError(
        400,
        'Request decode failed: the body must be a JSON array of operations',
      );
    if (body.length > TXN_MAX_OPS) {
      throw new HttpError(
        413,
        `Transaction contains too many operations (${body.length} > ${TXN_MAX_OPS})`,
      );
    }
    const ops = body.map(parseOp);
    const writes = ops.some((op) => !op.verb.startsWith('get') && !op.verb.startsWith('check'));
    const index = writes ? raft.next() : raft.index;
    let outcome: ReturnType<typeof apply> = { results: [], errors: [] };
    try {
      kv.atomically(() => {
        outcome = apply(ops, index);
        if (outcome.errors.length > 0) throw new Abort();
      });
    } catch (error) {
      if (!(error instanceof Abort)) throw error;
      send(r.res, {
        status: 409,
        ...rawJson(JSON.stringify({ Results: null, Errors: outcome.errors })),
      });
      return;
    }
    send(r.res, rawJson(`{"Results":[${outcome.results.join(',')}],"Errors":null}`), {
      'X-Consul-Index': String(index),
      'X-Consul-KnownLeader': 'true',
      'X-Consul-LastContact': '0',
    });
  };

  return [{ path: '/v1/txn', PUT: put }];
}
