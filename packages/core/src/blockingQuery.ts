import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF, pause } from './backoff';
import { ConsulRequestError, ConsulWatchError, PermissionDeniedError } from './errors';

export interface BlockingAnswer<R> {
  /** X-Consul-Index of the answer; undefined when the server sent none. */
  index: bigint | undefined;
  body: R;
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
  onError(error: ConsulWatchError, retryInMs: number): void;
  /** Called once a request succeeds after errors. */
  onRecover?(): void;
  signal: AbortSignal;
  /**
   * 'raft' indexes only grow, and a lower one means the server's state was reset.
   * 'hash' (the event list) is derived from an event ID: any difference is news.
   */
  indexKind?: 'raft' | 'hash';
  /** Blocking wait, ms. Default 5 minutes, Consul's own default. */
  waitMs?: number;
  /** Least time between the starts of two requests, ms: bounds the load of a flapping key. */
  minIntervalMs?: number;
  backoff?: BackoffOptions;
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
 * - errors: exponential back-off with full jitter, reset on success; 403 and 400 are
 *   retried slowly; the request after an error carries no index, so a restarted agent
 *   whose index happens to equal ours cannot hide its different data;
 * - never two requests closer than `minIntervalMs`.
 * Resolves when `signal` aborts, with no timer or request left behind.
 */
export async function runBlockingQuery<R>(options: BlockingQueryOptions<R>): Promise<void> {
  const { signal } = options;
  const hash = options.indexKind === 'hash';
  const waitMs = options.waitMs ?? 5 * 60_000;
  const minIntervalMs = options.minIntervalMs ?? 0;
  const backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
  let index: bigint | undefined;
  let attempt = 0;
  let lastStart = Number.NEGATIVE_INFINITY;

  while (!signal.aborted) {
    // Rounded up: timers have whole-millisecond resolution and must not cut the interval short.
    await pause(Math.ceil(lastStart + minIntervalMs - performance.now()), signal);
    if (signal.aborted) return;
    lastStart = performance.now();
    let answer: BlockingAnswer<R>;
    try {
      answer = await options.fetch(index, waitMs, signal);
    } catch (error) {
      if (signal.aborted) return;
      const typed = asWatchError(error);
      const slow =
        typed instanceof PermissionDeniedError ||
        (typed instanceof ConsulRequestError && typed.status === 400);
      const delay = slow
        ? Math.max(backoff.slowMs, backoffDelay(attempt, backoff))
        : backoffDelay(attempt, backoff);
      attempt += 1;
      options.onError(typed, delay);
      // The agent that answers next may not be the one that failed (a restart, a failover)
      // and may hold other data under the same index: ask without an index, then diff.
      index = undefined;
      await pause(delay, signal);
      continue;
    }
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
  }
}
