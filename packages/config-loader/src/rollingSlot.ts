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
/** The value of an instance's standing entry, which a percentage counts. */
const PRESENT = 'consul-env';
const BACKOFF = { baseMs: 100, maxMs: 2_000 };

/** What a slot holder gets: the signal aborts (reason: a LockLostError) if the slot is lost. */
export interface Slot {
  readonly signal: AbortSignal;
  /** The limit the contenders agreed on for this roll-out. */
  readonly limit: number;
}

/**
 * One instance's seat at a roll-out semaphore (core's, HashiCorp's `api.Semaphore` layout).
 * Each slot is taken with a session of its own, destroyed when the slot is given back, so a
 * slot whose holder is gone (killed, or listed again by a snapshot restore) comes back once
 * its session lapses: nobody renews it.
 *
 * With a percentage the limit is a share of the instances, so each keeps a standing entry
 * (`<key>/<session>`, value `consul-env`, with a session of its own) while it runs: those count
 * the fleet, not whoever reached Consul first after a change. The semaphore's `.lock` holds
 * one limit; the first contender of a roll-out writes it, later ones adopt it while anyone
 * holds a slot, and a `.lock` nobody holds is removed (as Go's `Semaphore.Destroy` does) when
 * the fleet's size has changed since.
 */
export class RollingSlot {
  private readonly base: string;
  /** With a percentage: the session of this instance's standing entry. */
  private presence: ConsulSession | undefined;
  private semaphore: ConsulSemaphore | undefined;
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

  /** With a percentage, stands this instance among the contenders ahead of any roll-out. */
  async join(signal: AbortSignal): Promise<void> {
    await this.retrying(signal, () => this.stand());
  }

  /**
   * Waits for a slot, through Consul outages and session losses: it never answers without one.
   * Rejects only when `signal` aborts or the semaphore's key is not a semaphore's.
   */
  acquire(signal: AbortSignal): Promise<Slot> {
    return this.retrying(signal, async () => {
      await this.stand();
      const limit = await this.decideLimit(signal);
      if (this.semaphore?.limit !== limit) {
        await this.semaphore?.close();
        this.semaphore = this.client.semaphore(this.base, limit, {
          sessionName: 'consul-env',
          lockDelayMs: 0,
          ...(this.options.sessionTtlMs === undefined ? {} : { ttlMs: this.options.sessionTtlMs }),
        });
      }
      return { signal: await this.semaphore.acquire({ signal }), limit };
    });
  }

  /** Gives the slot back and ends its session (a no-op when not held). */
  async release(): Promise<void> {
    await this.semaphore?.release();
  }

  /** Releases the slot and ends the sessions, which removes this instance's entries. */
  async close(): Promise<void> {
    this.closed = true;
    await this.semaphore?.close();
    await this.presence?.destroy();
  }

  /** Runs `step` until it answers, pausing (with backoff) while Consul is away or a session is lost. */
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

  /** With a percentage: the standing entry, made again with a new session if its session ended. */
  private async stand(): Promise<void> {
    if (!('percent' in this.max)) return;
    if (this.presence && !this.presence.signal.aborted) return;
    await this.presence?.destroy().catch(() => {});
    this.presence = undefined;
    const session = await this.client.session({
      name: 'consul-env',
      behavior: 'delete',
      lockDelayMs: 0,
      ...(this.options.sessionTtlMs === undefined ? {} : { ttlMs: this.options.sessionTtlMs }),
    });
    try {
      await this.client.kv.put(`${this.base}/${session.id}`, PRESENT, { acquire: session.id });
    } catch (error) {
      await session.destroy().catch(() => {});
      throw error;
    }
    this.presence = session;
  }

  /** The limit for this acquisition; removes a `.lock` nobody holds whose limit is out of date. */
  private async decideLimit(signal: AbortSignal): Promise<number> {
    for (;;) {
      const entries = await this.client.kv.list(`${this.base}/`);
      const lockKey = `${this.base}/${LOCK_KEY}`;
      const lockEntry = entries.find((e) => e.key === lockKey);
      const alive = new Set(entries.filter((e) => e.session).map((e) => e.session));
      const standing = entries.filter(
        (e) => e.session && e.value.toString('utf8') === PRESENT,
      ).length;
      const wanted =
        'count' in this.max
          ? this.max.count
          : Math.max(1, Math.floor((standing * this.max.percent) / 100));
      if (!lockEntry) return wanted;
      let recorded: { Limit?: unknown; Holders?: Record<string, unknown> };
      try {
        recorded = JSON.parse(lockEntry.value.toString('utf8'));
      } catch {
        return wanted; // the semaphore names the conflict itself
      }
      if (recorded.Limit === wanted || typeof recorded.Limit !== 'number') return wanted;
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
