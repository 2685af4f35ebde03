import { namesOf } from './optionNames';

export interface BackoffOptions {
  /** First retry delay ceiling, ms. Default 100. */
  baseMs?: number;
  /** Largest delay, ms. Default 30 000. */
  maxMs?: number;
  /** Delay after a 403 or 400, which retrying fast cannot fix, ms. Default 30 000. */
  slowMs?: number;
}

export const BACKOFF_OPTIONS = namesOf<BackoffOptions>({ baseMs: true, maxMs: true, slowMs: true });

export const DEFAULT_BACKOFF: Required<BackoffOptions> = {
  baseMs: 100,
  maxMs: 30_000,
  slowMs: 30_000,
};

/** Exponential back-off with full jitter: a random delay in [0, min(max, base·2^attempt)]. */
export function backoffDelay(
  attempt: number,
  options: Required<BackoffOptions>,
  random = Math.random,
): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** Resolves after `ms`, or at once (without throwing) when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
