import { setImmediate as afterIo } from 'node:timers';
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF, pause } from './backoff';
import {
  ConsulRequestError,
  ConsulUnavailableError,
  ConsulWatchError,
  InvalidFilterError,
  PermissionDeniedError,
} from './errors';
import { TokenBucket } from './tokenBucket';

export interface BlockingAnswer<R> {
  /** X-Consul-Index of the answer; undefined when the server sent none. */
  index: bigint | undefined;
  body: R;
}

/** Where a watch waits when Consul cannot be reached: the client's availability monitor. */
export interface AvailabilityGate {
  whenAvailable(error: ConsulWatchError, signal: AbortSignal): Promise<void>;
}

export interface BlockingQueryOptions<R> {
  /** One request: `index` undefined means "answer now". */
  fetch(index: bigint | undefined, waitMs: number, signal: AbortSignal): Promise<BlockingAnswer<R>>;
  /**
   * Called for every answer that may carry news: the first, every index change, and every
   * answer after the index went backwards. Diffing against what was delivered is the
   * caller's: an index change alone is no proof of change.
   */
  onAnswer(body: R, index: bigint): void;
  /** Every failed request; `retryInMs` is undefined while the watch waits for Consul to answer again. */
  onError(error: ConsulWatchError, retryInMs: number | undefined): void;
  /** Called once a request succeeds after errors. */
  onRecover?(): void;
  /** Called after every answered request, news or not. */
  onHeard?(): void;
  signal: AbortSignal;
  /**
   * 'raft' indexes only grow, and a lower one means the server's state was reset.
   * 'hash' (the event list) is derived from an event ID: any difference is news.
   */
  indexKind?: 'raft' | 'hash';
  /** Blocking wait, ms. Default 5 minutes, Consul's own default. */
  waitMs?: number;
  /** Sustained request rate of this watch when its index moves on every answer. Default: unbounded. */
  maxRequestsPerSecond?: number;
  /** Requests that go at once after a quiet spell. Default 10. */
  burst?: number;
  backoff?: BackoffOptions;
  /** Without one, unavailability is handled by back-off like any other error. */
  availability?: AvailabilityGate;
}

const asWatchError = (error: unknown): ConsulWatchError =>
  error instanceof ConsulWatchError
    ? error
    : new ConsulWatchError('CONSUL_ERROR', (error as Error)?.message ?? String(error));

/**
 * The one loop every watch runs, obeying the index rules:
 * - first request without index, later ones with the last index seen;
 * - a lower index than the one sent (snapshot restore, tombstone reaping): start over
 *   from 0, and let the caller diff against what it delivered, so nothing is missed or
 *   delivered twice;
 * - an index below 1 is treated as 1, so a server answering 0 cannot make us spin;
 * - the same index (a timeout, a write elsewhere): nothing to do;
 * - Consul unreachable (no connection, timeout, 5xx, 429): wait for the client's availability
 *   monitor, which probes for all watches at once; when the same query keeps failing while
 *   Consul answers the probe, exponential back-off with full jitter on top;
 * - 403, 400 and a filter Consul cannot parse (its 500) are retried slowly, whatever the
 *   monitor says: they are the caller's to fix, not an outage;
 * - the request after an error carries no index, so a restarted agent whose index happens to
 *   equal ours cannot hide its different data;
 * - pacing: a token bucket lets `burst` requests go at once and holds a key whose index moves
 *   on every answer to `maxRequestsPerSecond`.
 * Resolves when `signal` aborts, with no timer or request left behind.
 */
export async function runBlockingQuery<R>(options: BlockingQueryOptions<R>): Promise<void> {
  const { signal, availability } = options;
  const hash = options.indexKind === 'hash';
  const waitMs = options.waitMs ?? 5 * 60_000;
  const bucket =
    options.maxRequestsPerSecond === undefined
      ? undefined
      : new TokenBucket(options.maxRequestsPerSecond, options.burst ?? 10);
  const backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
  let index: bigint | undefined;
  let attempt = 0;

  while (!signal.aborted) {
    const hold = bucket?.take() ?? 0;
    if (hold > 0) await pause(hold, signal);
    if (signal.aborted) return;
    let answer: BlockingAnswer<R>;
    try {
      answer = await options.fetch(index, waitMs, signal);
    } catch (error) {
      if (signal.aborted) return;
      const typed = asWatchError(error);
      // The agent that answers next may not be the one that failed (a restart, a failover)
      // and may hold other data under the same index: ask without an index, then diff.
      index = undefined;
      attempt += 1;
      if (availability && typed instanceof ConsulUnavailableError) {
        options.onError(typed, undefined);
        await availability.whenAvailable(typed, signal);
        // Consul answered the probe: the first retry goes at once; a query that fails again
        // while Consul answers (a 500 or 429 of its own) backs off on top of the probe.
        if (attempt > 1) await pause(backoffDelay(attempt - 2, backoff), signal);
        continue;
      }
      const slow =
        typed instanceof PermissionDeniedError ||
        typed instanceof InvalidFilterError ||
        (typed instanceof ConsulRequestError && typed.status === 400);
      const delay = slow
        ? Math.max(backoff.slowMs, backoffDelay(attempt - 1, backoff))
        : backoffDelay(attempt - 1, backoff);
      options.onError(typed, delay);
      await pause(delay, signal);
      continue;
    }
    options.onHeard?.();
    if (attempt > 0) {
      attempt = 0;
      options.onRecover?.();
    }
    let next = answer.index ?? 1n;
    if (next < 1n) next = 1n;
    if (index === undefined || next !== index) {
      options.onAnswer(answer.body, next);
    }
    // Went backwards: the server's state was reset. Ask again without an index (an answer
    // at once), then block from whatever index that brings.
    index = !hash && index !== undefined && next < index ? undefined : next;
    // undici hands the connection an answer came on back to its pool only in a setImmediate
    // after the body ends; a request sent before that opens another connection, so every
    // watch held two at start-up and opened a new one on each change after a quiet spell
    // (when the spare had timed out). Waiting one turn re-parks on the same connection.
    await new Promise<void>((resolve) => afterIo(resolve));
  }
}
