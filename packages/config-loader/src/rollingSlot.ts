import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ConsulSemaphore,
  type ConsulSession,
  ConsulUnavailableError,
  type ConsulWatch,
  InvalidInputError,
  LockConflictError,
  LockLostError,
  type Logger,
} from '@consul-watch/core';

/** How many instances may restart at once: a number, or a share of the semaphore's contenders. */
export type MaxRestarting = { count: number } | { percent: number };

/**
 * Reads `--max-restarting` / `rolling.maxRestarting`: a whole number 1 or more, or a
 * percentage from 1% to 100% (`'25%'`). `name` is the user's own option, for the message.
 */
export function parseMaxRestarting(value: unknown, name: string): MaxRestarting {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1) return { count: value };
  if (typeof value === 'string') {
    const text = value.trim();
    if (/^\d+$/.test(text) && Number(text) >= 1) return { count: Number(text) };
    const match = /^(\d+(?:\.\d+)?)%$/.exec(text);
    if (match && Number(match[1]) > 0 && Number(match[1]) <= 100)
      return { percent: Number(match[1]) };
  }
  throw new InvalidInputError(
    `${name} must be a whole number of instances, 1 or more (2), or a percentage of the instances from 1% to 100% ('25%'), got ${JSON.stringify(value)}`,
  );
}

const LOCK_KEY = '.lock';
const BACKOFF = { baseMs: 100, maxMs: 2_000 };

/** What a slot holder gets: the signal aborts (reason: a LockLostError) if the slot is lost. */
export interface Slot {
  readonly signal: AbortSignal;
  /** The limit the contenders agreed on for this roll-out. */
  readonly limit: number;
}

/**
 * One instance's seat at a roll-out semaphore (core's, HashiCorp's `api.Semaphore` layout).
 * It keeps one session for as long as it runs, so a Go tool listing the prefix sees one
 * contender per instance, and a killed instance's slot comes back once that session lapses.
 *
 * With a percentage the limit is a share of the contender entries, so every instance keeps its
 * contender entry while it runs: the entries count the fleet, not whoever reached Consul first
 * after a change. The semaphore's `.lock` holds one limit; the first contender of a roll-out
 * writes it, later ones adopt it while anyone holds a slot, and a `.lock` nobody holds is
 * removed (as Go's `Semaphore.Destroy` does) when the fleet's size has changed since.
 */
export class RollingSlot {
  private readonly base: string;
  private session: ConsulSession | undefined;
  private semaphore: ConsulSemaphore | undefined;
  /** A session whose slot was taken from it (invalidated, most likely): not to be used again. */
  private spent: ConsulSession | undefined;
  private closed = false;
  private warnedConflict = false;

  constructor(
    private readonly client: ConsulWatch,
    key: string,
    private readonly max: MaxRestarting,
    private readonly options: { sessionTtlMs?: number; logger: Logger; maxName: string },
  ) {
    this.base = key.replace(/\/+$/, '');
  }

  /** The session ID this instance contends with, once it has one. */
  get sessionId(): string | undefined {
    return this.session?.id;
  }

  /** Opens the session (and, with a percentage, the contender entry) ahead of any roll-out. */
  async join(signal: AbortSignal): Promise<void> {
    await this.retrying(signal, () => this.ensureSession());
  }

  /**
   * Waits for a slot, through Consul outages and session losses: it never answers without one.
   * Rejects only when `signal` aborts or the semaphore's key is not a semaphore's.
   */
  acquire(signal: AbortSignal): Promise<Slot> {
    return this.retrying(signal, async () => {
      const session = await this.ensureSession();
      const limit = await this.decideLimit(signal);
      if (this.semaphore?.limit !== limit) {
        await this.semaphore?.close();
        this.semaphore = this.client.semaphore(this.base, limit, { session });
      }
      const semaphore = this.semaphore;
      try {
        const held = await semaphore.acquire({ signal });
        held.addEventListener(
          'abort',
          () => {
            // Lost, not released: Consul ended the session (or will), so the next slot
            // is taken with a new one at once rather than after its renewal fails.
            if ((held.reason as LockLostError)?.reason !== 'released') this.spent = session;
          },
          { once: true },
        );
        return { signal: held, limit };
      } finally {
        // Acquired or not, a percentage keeps this instance counted.
        if (!semaphore.held) await this.present(session).catch(() => {});
      }
    });
  }

  /** Gives the slot back (a no-op when not held). */
  async release(): Promise<void> {
    const semaphore = this.semaphore;
    if (!semaphore) return;
    await semaphore.release();
    const session = this.session;
    // Seated again at once (with a new session when the old one lost its slot), so a
    // percentage keeps counting this instance.
    const seated =
      session && session !== this.spent && !session.signal.aborted
        ? this.present(session)
        : this.ensureSession();
    await seated.catch((error: Error) => this.options.logger.warn(`consul-env: ${error.message}`));
  }

  /** Releases the slot and destroys the session, which removes its contender entry. */
  async close(): Promise<void> {
    this.closed = true;
    await this.semaphore?.close();
    await this.session?.destroy();
  }

  /** Runs `step` until it answers, pausing (with backoff) while Consul is away or the session is lost. */
  private async retrying<T>(signal: AbortSignal, step: () => Promise<T>): Promise<T> {
    for (let failures = 0; ; failures++) {
      signal.throwIfAborted();
      if (this.closed) throw new InvalidInputError('the roll-out slot is closed');
      try {
        return await step();
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (error instanceof LockConflictError && /limit conflict/.test(error.message)) {
          // Another contender wrote its limit first: decide again from what is there now.
          failures = 0;
          continue;
        }
        if (!(error instanceof ConsulUnavailableError || error instanceof LockLostError))
          throw error;
        const delay = Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** Math.min(failures, 10));
        await sleep(delay * (0.5 + Math.random() / 2), undefined, { signal });
      }
    }
  }

  private async ensureSession(): Promise<ConsulSession> {
    const old = this.session;
    if (old && old !== this.spent && !old.signal.aborted) return old;
    if (old) {
      // Lost (invalidated, or unrenewed for a TTL): what it held is Consul's to free.
      await this.semaphore?.close();
      this.semaphore = undefined;
      this.session = undefined;
      await old.destroy().catch(() => {});
    }
    const session = await this.client.session({
      name: 'consul-env',
      behavior: 'delete',
      lockDelayMs: 0,
      ...(this.options.sessionTtlMs === undefined ? {} : { ttlMs: this.options.sessionTtlMs }),
    });
    this.session = session;
    await this.present(session);
    return session;
  }

  /** With a percentage, this instance's contender entry, there whether or not it waits. */
  private async present(session: ConsulSession): Promise<void> {
    if (!('percent' in this.max)) return;
    await this.client.kv.put(`${this.base}/${session.id}`, '', { acquire: session.id });
  }

  /** The limit for this acquisition; removes a `.lock` nobody holds whose limit is out of date. */
  private async decideLimit(signal: AbortSignal): Promise<number> {
    for (;;) {
      const entries = await this.client.kv.list(`${this.base}/`);
      const lockKey = `${this.base}/${LOCK_KEY}`;
      const lockEntry = entries.find((e) => e.key === lockKey);
      const contenders = entries.filter((e) => e.key !== lockKey && e.session);
      const wanted =
        'count' in this.max
          ? this.max.count
          : Math.max(1, Math.floor((contenders.length * this.max.percent) / 100));
      if (!lockEntry) return wanted;
      let recorded: { Limit?: unknown; Holders?: Record<string, unknown> };
      try {
        recorded = JSON.parse(lockEntry.value.toString('utf8'));
      } catch {
        return wanted; // the semaphore names the conflict itself
      }
      if (recorded.Limit === wanted || typeof recorded.Limit !== 'number') return wanted;
      const alive = new Set(contenders.map((e) => e.session));
      const holding = Object.keys(recorded.Holders ?? {}).filter((h) => alive.has(h));
      if (holding.length === 0) {
        // Nobody holds a slot: the limit is from an earlier roll-out. Remove it as Go's
        // Destroy does, by check-and-set, so an acquisition in between keeps it.
        await this.client.kv.delete(lockKey, { cas: lockEntry.modifyIndex });
        continue;
      }
      // A roll-out is under way with another limit: a percentage follows it (the fleet's size
      // moved by a few); a number waits for it to end, as the limit is the user's to set.
      if ('percent' in this.max) return recorded.Limit;
      if (!this.warnedConflict) {
        this.warnedConflict = true;
        this.options.logger.warn(
          `consul-env: the instances holding ${this.base} restart ${recorded.Limit} at a time, not ${wanted}; waiting for them to finish. Give every instance the same ${this.options.maxName}.`,
        );
      }
      await sleep(1_000, undefined, { signal });
    }
  }
}
