import { ConsulWatchError, TimeoutError } from './errors';

/**
 * "Resolves once the first state is here", with an optional bound. Stopping the owner
 * settles every pending wait at once, so no timer or promise outlives it.
 */
export class Readiness<T> {
  private readonly waiters = new Set<{
    resolve: (value: T) => void;
    reject: (error: Error) => void;
    timer?: NodeJS.Timeout;
  }>();
  private result: { value: T } | undefined;
  private stopped = false;

  get isReady(): boolean {
    return this.result !== undefined;
  }

  /** Waits for `resolve()`; with `timeoutMs`, rejects with a TimeoutError whose message `describe()` gives. */
  wait(timeoutMs: number | undefined, describe: () => string): Promise<T> {
    if (this.result) return Promise.resolve(this.result.value);
    if (this.stopped)
      return Promise.reject(
        new ConsulWatchError('NOT_READY', `${describe()}: stopped before it was ready`),
      );
    return new Promise((resolve, reject) => {
      const waiter: {
        resolve: (value: T) => void;
        reject: (error: Error) => void;
        timer?: NodeJS.Timeout;
      } = { resolve, reject };
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new TimeoutError(describe()));
        }, timeoutMs);
      }
      this.waiters.add(waiter);
    });
  }

  resolve(value: T): void {
    if (this.result) return;
    this.result = { value };
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.resolve(value);
    }
    this.waiters.clear();
  }

  /** Rejects every pending wait with `error`; later waits wait again. */
  fail(error: Error): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(error);
    }
    this.waiters.clear();
  }

  /** Rejects every pending wait: the owner stopped before it was ready. */
  stop(describe: () => string): void {
    this.stopped = true;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new ConsulWatchError('NOT_READY', `${describe()}: stopped before it was ready`));
    }
    this.waiters.clear();
  }
}
