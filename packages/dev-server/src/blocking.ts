import type { ServerResponse } from 'node:http';
import type { Timed, TimerList } from './deadlines';
import { parseGoDuration } from './goDuration';
import { DEFAULT_ACL_POLICY_HEADER, HttpError, type Request, send } from './http';
import type { Group, QueryResult, Waiter, Waiters } from './waiters';

const MAX_UINT64 = (1n << 64n) - 1n;
export const DEFAULT_WAIT_MS = 5 * 60_000;
export const MAX_WAIT_MS = 10 * 60_000;

export interface BlockingParams {
  /** The client's `index`; undefined or 0 means "answer now". */
  index: bigint | undefined;
  /** The wait to apply, already defaulted and capped, before jitter. */
  waitMs: number;
}

/** Reads `index` and `wait` as Consul does; malformed values are a 400, never a crash. */
export function blockingParams(query: URLSearchParams): BlockingParams {
  const rawIndex = query.get('index');
  let index: bigint | undefined;
  if (rawIndex !== null) {
    if (!/^\d{1,20}$/.test(rawIndex) || BigInt(rawIndex) > MAX_UINT64) {
      throw new HttpError(
        400,
        `Invalid index: ${JSON.stringify(rawIndex)} is not an unsigned 64-bit integer`,
      );
    }
    index = BigInt(rawIndex);
  }
  const rawWait = query.get('wait');
  let waitMs = DEFAULT_WAIT_MS;
  if (rawWait !== null) {
    const parsed = parseGoDuration(rawWait);
    if (parsed === undefined) {
      throw new HttpError(
        400,
        `Invalid wait time: ${JSON.stringify(rawWait)} is not a duration such as 10s or 5m`,
      );
    }
    if (parsed > 0) waitMs = Math.min(parsed, MAX_WAIT_MS);
  }
  return { index, waitMs };
}

export interface BlockingRead {
  /** Which writes can change this read's result (see Waiters). */
  topic: string;
  run: () => QueryResult;
  /**
   * The index `run` would answer with, where that is much cheaper than the answer: a query
   * that parks then builds no answer it would throw away.
   */
  index?: () => bigint;
  /**
   * Raft-indexed reads wake when the index passes the client's; the event list's index is
   * a hash of the newest event's ID, so it wakes when the index merely differs.
   */
  news?: 'greater' | 'different';
}

function signature(r: Request): string {
  const parts: string[] = [];
  for (const [name, value] of r.query) {
    if (name !== 'index' && name !== 'wait') parts.push(`${name}=${value}`);
  }
  return `${r.path}?${parts.sort().join('&')}`;
}

function consistencyOf(r: Request): string {
  return r.query.has('consistent') ? 'consistent' : r.query.has('stale') ? 'stale' : 'leader';
}

function headersFor(
  result: QueryResult,
  consistency: string,
  defaultAclPolicy: string | undefined,
): Record<string, string> {
  // An index below 1 sent back by a client would not block; Consul never returns one.
  const index = result.index < 1n ? 1n : result.index;
  const headers: Record<string, string> = {
    'X-Consul-Index': index.toString(),
    'X-Consul-KnownLeader': 'true',
    'X-Consul-LastContact': '0',
    // What a Consul 1.20 server answers for a read served by a blocking query.
    'X-Consul-Query-Backend': 'blocking-query',
    'X-Consul-Effective-Consistency': consistency,
  };
  if (defaultAclPolicy !== undefined) headers[DEFAULT_ACL_POLICY_HEADER] = defaultAclPolicy;
  return headers;
}

/** The parked query a response belongs to, for the one 'close' listener all of them share. */
const parkedOn = new WeakMap<ServerResponse, ParkedQuery>();

function onParkedClose(this: ServerResponse): void {
  const query = parkedOn.get(this);
  if (!query) return;
  parkedOn.delete(this);
  query.waiters.unpark(query);
}

/**
 * A request parked until news or its deadline. One plain object with no closures of its
 * own: thousands of these stay alive for minutes (see Waiters and Deadlines).
 */
class ParkedQuery implements Waiter {
  group: Group | undefined = undefined;
  slot = 0;
  deadline = 0;
  timerList: TimerList | undefined = undefined;
  prevTimed: Timed | undefined = undefined;
  nextTimed: Timed | undefined = undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly minIndex: bigint,
    private readonly greater: boolean,
    private readonly consistency: string,
    private readonly defaultAclPolicy: string | undefined,
    readonly waiters: Waiters,
  ) {
    parkedOn.set(res, this);
    res.on('close', onParkedClose);
  }

  isNews(index: bigint): boolean {
    return this.greater ? index > this.minIndex : index !== this.minIndex;
  }

  answer(result: QueryResult): void {
    this.res.off('close', onParkedClose);
    parkedOn.delete(this.res);
    send(this.res, result, headersFor(result, this.consistency, this.defaultAclPolicy));
  }
}

/**
 * Serves a read that supports blocking: answers at once when the client sent no index, 0,
 * or an index its result has already moved past; otherwise parks it until a write on its
 * topic brings news or `wait` (plus up to wait/16 of jitter, as Consul adds) runs out.
 */
export function serveBlocking(r: Request, waiters: Waiters, read: BlockingRead): void {
  const { index: minIndex, waitMs } = blockingParams(r.query);
  const consistency = consistencyOf(r);
  const greater = read.news !== 'different';
  const first = minIndex && read.index ? undefined : read.run();
  const index = first ? first.index : read.index!();
  if (!minIndex || (greater ? index > minIndex : index !== minIndex)) {
    const result = first ?? read.run();
    send(r.res, result, headersFor(result, consistency, r.defaultAclPolicy));
    return;
  }
  // Consul adds up to wait/16 of jitter. Sixteen steps of it, not a continuum: each distinct
  // duration gets a timer of its own (see Deadlines).
  const jitter = (waitMs / 16) * (Math.floor(Math.random() * 16) / 16);
  const query = new ParkedQuery(r.res, minIndex, greater, consistency, r.defaultAclPolicy, waiters);
  waiters.park(query, read.topic, signature(r), read.run, Math.round(waitMs + jitter));
}
