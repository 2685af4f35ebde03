import { hostname } from 'node:os';
import { backoffDelay, pause } from './backoff';
import { type LockLossReason, LockLostError } from './errors';
import { type ConsulLock, LOCK_SESSION_NAME, type LockOptions } from './lock';
import type { Logger } from './logger';

export interface LeaderState {
  /** True while this process holds the leadership key. */
  leader: boolean;
  since: Date;
  /** Why the last term ended; absent until one has. */
  reason?: LockLossReason;
}

export interface LeaderCallbacks {
  /**
   * Called when this process becomes leader, with a signal that aborts the moment it stops
   * being leader. Work done as leader should stop when it aborts.
   */
  onElected?: (signal: AbortSignal) => void | Promise<void>;
  /** Called when a term ends: the lock was lost, or the election was closed. */
  onDemoted?: (reason: LockLossReason) => void;
}

/**
 * A leader's lock options with, unless the caller gives a value, one naming who leads (session
 * name, host, pid), so that `consul kv get` on the key answers it: the session ID alone names
 * no process. Go's api.Lock writes whatever value it is given, so Go contenders are unaffected.
 */
export function withLeaderValue(options: LockOptions): LockOptions {
  if (options.value !== undefined && options.value !== null) return options;
  const session = typeof options.sessionName === 'string' ? options.sessionName : LOCK_SESSION_NAME;
  return { ...options, value: { session, host: hostname(), pid: process.pid } };
}

/** Leader election over one lock: campaign, lead until the lock is lost, campaign again. */
export class LeaderElection {
  private state: LeaderState = { leader: false, since: new Date() };
  private readonly listeners = new Set<(state: LeaderState) => void>();
  private readonly closing = new AbortController();
  private readonly running: Promise<void>;

  /** @internal use `client.leader()` */
  constructor(
    private readonly lock: ConsulLock,
    private readonly callbacks: LeaderCallbacks,
    private readonly logger: Logger,
  ) {
    this.running = this.campaign();
  }

  get key(): string {
    return this.lock.key;
  }

  get isLeader(): boolean {
    return this.state.leader;
  }

  get status(): LeaderState {
    return this.state;
  }

  /** While leader, the term's signal; undefined otherwise. */
  get signal(): AbortSignal | undefined {
    return this.state.leader ? this.lock.signal : undefined;
  }

  /** Calls `listener` on every change of leadership; returns how to stop. */
  subscribe(listener: (state: LeaderState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Steps down (releasing the key, so another process takes over at once) and stops campaigning. */
  async close(): Promise<void> {
    this.closing.abort();
    await this.lock.close();
    await this.running;
  }

  private async campaign(): Promise<void> {
    let failures = 0;
    const stop = this.closing.signal;
    while (!stop.aborted) {
      let term: AbortSignal;
      try {
        term = await this.lock.acquire({ signal: stop });
        failures = 0;
      } catch (error) {
        if (stop.aborted) break;
        this.logger.warn(
          `consul-watch: leader ${JSON.stringify(this.key)}: ${(error as Error).message}`,
        );
        await pause(backoffDelay(failures++, { baseMs: 500, maxMs: 15_000, slowMs: 30_000 }), stop);
        continue;
      }
      this.set({ leader: true, since: new Date() });
      this.run(term);
      await new Promise<void>((resolve) => {
        if (term.aborted) resolve();
        else term.addEventListener('abort', () => resolve(), { once: true });
      });
      const reason = term.reason instanceof LockLostError ? term.reason.reason : 'released';
      this.set({ leader: false, since: new Date(), reason });
      this.guard(() => this.callbacks.onDemoted?.(reason), 'onDemoted');
      // A lost term (not a close) leaves the lock object with a dead hold: clear it.
      if (!stop.aborted) await this.lock.release();
    }
  }

  private run(term: AbortSignal): void {
    this.guard(() => this.callbacks.onElected?.(term), 'onElected');
  }

  private guard(call: () => unknown, what: string): void {
    try {
      const result = call();
      if (result instanceof Promise)
        result.catch((error: Error) =>
          this.logger.error(
            `consul-watch: leader ${JSON.stringify(this.key)}: ${what} failed: ${error.message}`,
          ),
        );
    } catch (error) {
      this.logger.error(
        `consul-watch: leader ${JSON.stringify(this.key)}: ${what} failed: ${(error as Error).message}`,
      );
    }
  }

  private set(state: LeaderState): void {
    this.state = state;
    for (const listener of this.listeners) {
      try {
        listener(state);
      } catch (error) {
        this.logger.error(`consul-watch: leader listener failed: ${(error as Error).message}`);
      }
    }
  }
}
